"""Typed registries for tasks, methods, schedules, metrics and segmenters.

Entries are added by decorators next to the objects they name (`@METHODS.register("cyclegan")`).
A registry can name packages to *discover*: on first lookup every module in them is imported,
so a new method is one new file in `methods/` or `baselines/` and nothing else changes.
External packages plug in through the entry-point group `harness.<kind>s`.

Lookups of unknown names raise `UnknownNameError` with did-you-mean suggestions.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from harness.errors import UnknownNameError

T = TypeVar("T")
log = logging.getLogger("harness.registry")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str


class Registry(Generic[T]):
    """A name → object map with hygiene checks, discovery and did-you-mean errors."""

    def __init__(self, kind: str, base: type | None = None, discover: tuple[str, ...] = ()):
        self.kind = kind
        self.base = base
        self._discover_packages = discover
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = False
        self._lock = threading.RLock()
        # Plugins that failed to import: module or entry point → one-line reason (reported, then skipped).
        self.skipped: dict[str, str] = {}
        # Entry-point plugins: top-level module → (distribution, version), for result records.
        self.plugin_sources: dict[str, tuple[str, str]] = {}

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, obj: T | None = None, *, description: str = "") -> Any:
        """Register `obj` under `name`; without `obj`, return a decorator."""
        if obj is None:
            def decorator(target: T) -> T:
                return self.register(name, target, description=description)
            return decorator
        if not name or name != name.strip() or any(c.isspace() for c in name):
            raise ValueError(f"{self.kind} name {name!r} must be a non-empty word without spaces")
        if self.base is not None and isinstance(obj, type) and not issubclass(obj, self.base):
            raise TypeError(f"{self.kind} {name!r} must subclass {self.base.__name__}")
        if not description:
            doc = (getattr(obj, "__doc__", None) or "").strip()
            description = doc.splitlines()[0] if doc else ""
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None and existing.obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice "
                                 f"({_origin(existing.obj)} and {_origin(obj)})")
            self._entries[name] = Entry(name, obj, description)
        return obj

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register throw-away entries)."""
        with self._lock:
            self._entries.pop(name, None)

    # -- lookup -------------------------------------------------------------------------
    def _ensure_discovered(self) -> None:
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            for package in self._discover_packages:
                self.skipped.update(_import_all(package))
            for ep in importlib.metadata.entry_points(group=f"harness.{self.kind}s"):
                dist = ep.dist.name if ep.dist is not None else "?"
                version = ep.dist.version if ep.dist is not None else "?"
                try:
                    ep.load()
                except Exception as exc:  # a broken plugin must not take the other methods down
                    self.skipped[f"{ep.value} (entry point {ep.name!r} of {dist} {version})"] = _one_line(exc)
                    log.warning("skipping %s plugin %s from %s %s: %s", self.kind, ep.value, dist, version,
                                _one_line(exc))
                    continue
                self.plugin_sources[ep.value.split(":")[0].split(".")[0]] = (dist, version)

    def get(self, name: str, where: str = "") -> T:
        return self.entry(name, where).obj

    def entry(self, name: str, where: str = "") -> Entry[T]:
        self._ensure_discovered()
        try:
            return self._entries[name]
        except KeyError:
            error = UnknownNameError(self.kind, name, self._entries, where)
            if self.skipped:
                notes = "; ".join(f"{k}: {v}" for k, v in self.skipped.items())
                error.args = (f"{error.args[0]}\n(skipped {self.kind} plugins that failed to import: {notes})",)
            raise error from None

    def names(self) -> list[str]:
        self._ensure_discovered()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        for name in self.names():
            yield self._entries[name]

    def __contains__(self, name: str) -> bool:
        self._ensure_discovered()
        return name in self._entries


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _import_all(package_name: str) -> dict[str, str]:
    """Import every module of a package so that its decorators run; return the modules that failed
    (each reported as one warning line and skipped, so one broken file does not stop every run)."""
    skipped: dict[str, str] = {}
    try:
        package = importlib.import_module(package_name)
    except ModuleNotFoundError as exc:
        if exc.name == package_name:
            return skipped
        raise
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.",
                                      onerror=lambda name: skipped.setdefault(name, "package failed to import")):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf.startswith("test"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            skipped[info.name] = _one_line(exc)
            log.warning("skipping plugin module %s: %s", info.name, _one_line(exc))
    return skipped


# The registries. Their object types are imported lazily by the modules that fill them,
# so importing this module stays cheap (`harness list` does not need torch to start).
TASKS: Registry[Any] = Registry("task", discover=("harness.tasks",))
METHODS: Registry[Any] = Registry("method", discover=("baselines", "methods", "harness.reference_methods"))
SCHEDULES: Registry[Any] = Registry("schedule", discover=("harness.schedules",))
METRICS: Registry[Callable[..., Any]] = Registry("metric", discover=("harness.evaluation",))
SEGMENTERS: Registry[Any] = Registry("segmenter", discover=("harness.evaluation",))
FEATURE_EXTRACTORS: Registry[Any] = Registry("feature extractor", discover=("harness.evaluation",))


def register_method(name: str, description: str = "") -> Callable[[T], T]:
    """Decorator: `@register_method("cyclegan")` on a `Method` subclass."""
    return METHODS.register(name, description=description)
