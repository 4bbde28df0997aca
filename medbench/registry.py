"""One registry mechanism (modelled on lm-eval's `Registry`): named entries, lazy import.

An entry is either an object or a dotted target `"package.module:attr"` (a bare `"package.module"`
means the module's `default_attr`, e.g. a task family module's `FAMILY`). A target is imported on
the first `get(name)` and checked by the registry's `validate` hook (when given) before it is
handed out, so a broken entry fails with one clear message and never half-works. Used for task
families (`medbench.tasks.FAMILIES`), model backends (`medbench.models.BACKENDS`) and each
family's baselines (`medbench.models.baselines.baselines_of`).

`registry.targets` is the mutable mapping of name → target, so tests can `monkeypatch.setitem`
an entry (setting one drops what was loaded under that name).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from medbench.errors import UserError

T = TypeVar("T")


def import_target(target: str, default_attr: str | None = None) -> Any:
    """`"pkg.mod:attr"` (or `"pkg.mod"` with `default_attr`) → the object. ImportError /
    AttributeError propagate (the caller words them)."""
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    attr = attr or default_attr
    if not attr:
        return mod
    obj: Any = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class _Targets(MutableMapping):
    """name -> target of one registry (what `monkeypatch.setitem` patches)."""

    def __init__(self, registry: Registry):
        self._r = registry

    def __getitem__(self, name: str) -> Any:
        return self._r._targets[name]

    def __setitem__(self, name: str, target: Any) -> None:
        self._r.register(name, target)

    def __delitem__(self, name: str) -> None:
        del self._r._targets[name]
        self._r._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._r._targets)

    def __len__(self) -> int:
        return len(self._r._targets)


class Registry(Generic[T]):
    """Named, lazily imported entries of one kind (`kind` words the errors)."""

    def __init__(self, kind: str, *, default_attr: str | None = None,
                 validate: Callable[[str, Any], T] | None = None, display: Callable[[str], str] = str,
                 where: str = ""):
        self.kind, self.default_attr, self.where = kind, default_attr, where
        self._validate, self._display = validate, display
        self._targets: dict[str, Any] = {}
        self._loaded: dict[str, tuple[Any, T]] = {}  # name -> (target it was loaded from, object)
        self.targets = _Targets(self)

    # -------------------------------------------------------------- registering
    def register(self, name: str, target: Any = None):
        """`register(name, target)`, or as a decorator `@registry.register(name)`. An object
        target is validated now; a dotted string on its first `get`."""
        if target is None:
            def deco(obj):
                self.register(name, obj)
                return obj
            return deco
        if not isinstance(target, str) and self._validate is not None:
            target = self._validate(name, target)
        self._targets[name] = target
        self._loaded.pop(name, None)
        return target

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        """Names in registration order."""
        return iter(list(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    # -------------------------------------------------------------- looking up
    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._targets)

    def unknown(self, name: str) -> UserError:
        avail = ", ".join(self._display(n) for n in self.names()) or "none"
        return UserError(f"unknown {self.kind} '{name}'{self.where}; available: {avail}")

    def get(self, name: str) -> T:
        if name not in self._targets:
            raise self.unknown(name)
        target = self._targets[name]
        cached = self._loaded.get(name)
        if cached is not None and cached[0] is target:
            return cached[1]
        obj = import_target(target, self.default_attr) if isinstance(target, str) else target
        if isinstance(target, str) and self._validate is not None:
            obj = self._validate(name, obj)
        self._loaded[name] = (target, obj)
        return obj
