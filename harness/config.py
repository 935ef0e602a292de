"""Configs as data: dataclasses built strictly from dicts, YAML files and `--set` overrides.

Every default lives once, in a dataclass field; unknown keys are errors with did-you-mean;
the resolved config is a plain dict that goes into every result file.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from harness.errors import UsageError, did_you_mean

C = TypeVar("C")


def from_dict(cls: type[C], data: Mapping[str, Any] | None, where: str = "") -> C:
    """Build dataclass `cls` from `data`, rejecting unknown keys and coercing simple types."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        sugg = did_you_mean(key, fields)
        hint = f"; did you mean {sugg[0]!r}?" if sugg else ""
        raise UsageError(f"unknown key {key!r}{' in ' + where if where else ''}{hint}\n"
                         f"valid keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    obj = cls(**kwargs)
    if getattr(cls, "range_checked", False):  # schedules and method configs: ranges, before any training
        from harness.safety.values import check_values
        check_values(obj, where)
    return obj


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except UsageError:
                continue
        raise UsageError(f"{where}: {value!r} does not fit {hint}")
    if origin is typing.Literal:
        if value not in args:
            sugg = did_you_mean(str(value), [str(a) for a in args])
            hint_txt = f"; did you mean {sugg[0]!r}?" if sugg else ""
            raise UsageError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}{hint_txt}")
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_dict(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise UsageError(f"{where}: {value!r} is not a {getattr(hint, '__name__', hint)}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain JSON-ready data."""
    return dataclasses.asdict(obj)


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        # libyaml's safe loader where PyYAML has it (the same safe constructor, ~10x faster parsing: every
        # command reads the registered schedules and tasks, `leaderboard` and `claims` their table files)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping at the top level")
    return data


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`["lambda_idt=0", "ngf=32"]` → `{"lambda_idt": 0, "ngf": 32}`; values are YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        value = yaml.safe_load(raw) if raw.strip() else ""
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; every user means the number
        out[key.strip()] = value
    return out


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
