"""The plugin host: finds plugins through entry points, validates them, calls their hooks one by one.

``STOREFRONT_EDGE_PLUGINS=a,b`` limits which plugins load; ``STOREFRONT_EDGE_TRACE_HOOKS=1`` logs every
hook call with its duration. A plugin that fails to load, has an invalid description or config, or
raises in ``startup`` is recorded with its reasons and reported not ready; the others keep serving.

Requirements: a plugin lists the plugins it needs in ``PluginInfo.requires``. Hooks are called in an
order where every plugin comes after those it requires (migrations and start-up included). A plugin
whose requirement is not loaded (or is itself blocked) is *blocked*: it reports not ready with the
reason, its routes answer 503, and none of its other hooks run (no migrations, tables, start-up or commands).
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .hookspecs import ENTRY_POINT_GROUP, PROJECT, PluginInfo

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+")


@dataclass
class LoadedPlugin:
    """One registered plugin and what the host learned about it."""

    name: str
    module: object
    info: PluginInfo | None = None
    config: object = None
    errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # required plugins that are not available

    @property
    def blocked(self) -> bool:
        """Whether a plugin it requires is missing (then only its description and routes are used)."""
        return bool(self.missing)


def validate_info(name: str, info) -> list[str]:
    """Every problem with a plugin's ``plugin_info()`` (all of them, not only the first)."""
    if not isinstance(info, PluginInfo):
        return [f"plugin_info() returned {type(info).__name__}, expected PluginInfo"]
    problems = []
    if info.name != name:
        problems.append(f"name '{info.name}' differs from its entry-point name '{name}'")
    if not _NAME.match(info.name or ""):
        problems.append(f"name '{info.name}' must be lower-case letters, digits and '_'")
    if not _VERSION.match(info.version or ""):
        problems.append(f"version '{info.version}' is not MAJOR.MINOR.PATCH")
    if not all(isinstance(m, str) and m for m in info.models):
        problems.append("models must be a tuple of model names")
    if not all(isinstance(r, str) and _NAME.match(r) and r != name for r in info.requires):
        problems.append("requires must be a tuple of other plugins' names")
    if info.config is not None and not hasattr(info.config, "model_validate"):
        problems.append("config must be a pydantic model class")
    return problems


def _import(target):
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


class PluginHost:
    """Registers plugins with pluggy and calls their hooks one plugin at a time."""

    def __init__(self, allowed=None, extra=(), trace: bool = False):
        self.allowed = set(allowed) if allowed is not None else None
        self.extra, self.trace = list(extra), trace
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}

    def _wanted(self, name: str) -> bool:
        return self.allowed is None or name in self.allowed

    def _register(self, name: str, loader) -> None:
        try:
            module = loader()
            self.pm.register(module, name=name)
            self.plugins[name] = LoadedPlugin(name, module)
        except Exception as exc:  # a broken plugin must not stop the node
            log.error("plugin %s failed to load: %s", name, exc)
            self.plugins[name] = LoadedPlugin(name, None, errors=[f"failed to load: {exc}"])

    def load(self, plugin_config: dict | None = None) -> None:
        """Register entry-point and extra plugins, then validate their descriptions and config."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if self._wanted(ep.name) and ep.name not in self.plugins:
                self._register(ep.name, ep.load)
        for target in self.extra:
            module = _import(target)
            name = getattr(module, "PLUGIN_NAME", None) or getattr(module, "__name__", str(module)).rsplit(".", 1)[-1]
            if self._wanted(name) and name not in self.plugins:
                self._register(name, lambda m=module: m)
        for unknown in sorted((self.allowed or set()) - set(self.plugins)):
            log.warning("plugin %s was asked for but is not installed", unknown)
        for plugin in self.plugins.values():
            if plugin.module is not None:
                self._describe(plugin, (plugin_config or {}).get(plugin.name, {}))
        self._check_requirements()

    def _check_requirements(self) -> None:
        """Block every plugin one of whose required plugins is not usable (repeated: a block propagates)."""
        while True:
            available = {p.name for p in self.usable()}
            short = [(p, [r for r in p.info.requires if r not in available]) for p in self.usable()]
            short = [(p, missing) for p, missing in short if missing]
            if not short:
                return
            for plugin, missing in short:
                plugin.missing += missing
                plugin.errors += [f"requires plugin '{r}', which is not available on this node" for r in missing]
                log.error("plugin %s is blocked: it requires %s", plugin.name, ", ".join(missing))

    def _describe(self, plugin: LoadedPlugin, settings: dict) -> None:
        info = self.call(plugin.name, "plugin_info")
        problems = validate_info(plugin.name, info) if info is not None else ["plugin does not implement plugin_info()"]
        plugin.errors += problems
        if problems:
            return
        plugin.info = info
        if info.config is not None:
            from pydantic import ValidationError

            try:
                plugin.config = info.config.model_validate(settings)
            except ValidationError as exc:
                fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                plugin.errors.append(f"invalid config: {fields}")

    def usable(self, include_blocked: bool = False) -> list[LoadedPlugin]:
        """Plugins that loaded and described themselves validly (they may still be not ready), each after
        the plugins it requires; blocked ones only with ``include_blocked``."""
        described = {n: p for n, p in self.plugins.items() if p.module is not None and p.info is not None}
        ordered: dict[str, LoadedPlugin] = {}

        def visit(plugin, path=()):
            if plugin.name in ordered or plugin.name in path:
                return
            for required in plugin.info.requires:
                if required in described:
                    visit(described[required], (*path, plugin.name))
            ordered[plugin.name] = plugin

        for plugin in described.values():
            visit(plugin)
        return [p for p in ordered.values() if include_blocked or not p.blocked]

    def call(self, name: str, hook: str, **kwargs):
        """Call ``hook`` of plugin ``name`` only; ``None`` if it does not implement it."""
        impl = next((i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name == name), None)
        if impl is None:
            return None
        started = time.perf_counter()
        try:
            return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        finally:
            if self.trace:
                log.info("hook %s.%s(%s) took %.2f ms", name, hook, ", ".join(kwargs), (time.perf_counter() - started) * 1000)

    def call_each(self, hook: str, *, include_blocked: bool = False, **kwargs) -> dict:
        """Call ``hook`` on every usable plugin (requirements first); map name to result, or to the exception it raised."""
        results = {}
        for plugin in self.usable(include_blocked):
            try:
                results[plugin.name] = self.call(plugin.name, hook, **kwargs)
            except Exception as exc:  # isolate plugins from each other
                log.exception("hook %s of plugin %s failed", hook, plugin.name)
                results[plugin.name] = exc
        return results
