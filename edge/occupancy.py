"""How many model runs are in progress across the node's workers.

A lone request on an idle node may use every core for its model run; when other runs are in
progress each keeps to its own share, so the workers do not fight over the cores. The count lives
in shared memory created by the gunicorn arbiter before it forks the workers
(:func:`share_across_workers`); without it (tests, the development server) it counts this process
only. If a worker dies inside a run the count stays one too high and runs keep to their share: the
slower, safe side.

Measured in ``make bench`` (visual search, 2 workers on 2 cores): see ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

_shared = None


class Occupancy:
    """A counter of model runs in progress, shared by whoever holds the same ``multiprocessing.Value``."""

    def __init__(self, value=None):
        import multiprocessing

        self._value = value if value is not None else multiprocessing.Value("i", 0)

    @contextlib.contextmanager
    def running(self) -> Iterator[bool]:
        """Count one run for the duration of the block; yield whether it is the only one."""
        with self._value.get_lock():
            self._value.value += 1
            alone = self._value.value == 1
        try:
            yield alone
        finally:
            with self._value.get_lock():
                self._value.value -= 1

    @property
    def in_progress(self) -> int:
        """Runs in progress now."""
        return self._value.value


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
