"""How many requests the node's workers are serving right now.

A lone request on an idle node may use every core for its model run; while other requests are in
progress each model run keeps to its own share, so the workers do not fight over the cores. The
count lives in shared memory created by the gunicorn arbiter before it forks the workers
(:func:`share_across_workers`); without it (tests, the development server) it counts this process
only. Requests are counted, not model runs: a worker between two model runs is still decoding or
answering, and counting runs alone let the other worker's run take both cores in those gaps. If a
worker dies inside a request the count stays one too high and runs keep to their share: the
slower, safe side.

The setting that uses it (``MODEL_THREADS_IDLE``) is off by default: on the shared 2-core test
machine its gain for a lone request came and went with the machine's load (the second core is
shared with other machines). Its thread pool sleeps between runs (see :mod:`edge.runtime`), so it
no longer costs throughput under load. ``make bench`` (visual search) measures it side by side.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

_shared = None


class Occupancy:
    """A counter of requests in progress, shared by whoever holds the same ``multiprocessing.Value``."""

    def __init__(self, value=None):
        import multiprocessing

        self._value = value if value is not None else multiprocessing.Value("i", 0)

    def enter(self) -> None:
        """Count one more request in progress."""
        with self._value.get_lock():
            self._value.value += 1

    def leave(self) -> None:
        """Count one request fewer."""
        with self._value.get_lock():
            self._value.value -= 1

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request for the duration of the block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @property
    def in_progress(self) -> int:
        """Requests in progress now."""
        return self._value.value

    @property
    def alone(self) -> bool:
        """Whether at most one request (the caller's own) is in progress."""
        return self._value.value <= 1


def init_app(app) -> None:
    """Count every request ``app`` serves, from before its first hook to its teardown.

    Only when ``MODEL_THREADS_IDLE`` asks for more threads than ``MODEL_THREADS``: otherwise
    nothing reads the count and requests are not slowed by it.
    """
    from flask import g

    if not idle_threads(app.config["MODEL_THREADS_IDLE"], app.config["MODEL_THREADS"]):
        return

    @app.before_request
    def _count_request():
        current().enter()
        g.storefront_counted = True

    @app.teardown_request
    def _uncount_request(_exc=None):
        if g.pop("storefront_counted", False):
            current().leave()


def share_across_workers() -> Occupancy:
    """Create the shared counter; call in the parent process before the workers are forked."""
    global _shared
    _shared = Occupancy()
    return _shared


def current() -> Occupancy:
    """The shared counter, or a counter of this process alone."""
    global _shared
    if _shared is None:
        _shared = Occupancy()
    return _shared


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def idle_threads(setting, busy_threads: int) -> int:
    """Threads for a lone model run: ``"auto"`` is every core (at most 4), an int is itself.

    Returns 0 (no separate idle setting) when that is not more than ``busy_threads``.
    """
    if str(setting).lower() == "auto":
        wanted = min(available_cores(), 4)
    else:
        try:
            wanted = int(setting)
        except (TypeError, ValueError):
            raise ValueError(f"MODEL_THREADS_IDLE must be 'auto' or a number of threads, not {setting!r}") from None
    return wanted if wanted > busy_threads else 0
