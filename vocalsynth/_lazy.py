"""Lazy package exports: a package names what it offers, and the module behind a name is imported only when
that name is first used (so `import vocalsynth.audio` doesn't pull in torch for a pitch helper)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``. ``exports`` maps a name to its module, relative to
    the package (``"io"``) or absolute (``"vocalsynth.synthesis.labels"``); ``namespace`` is the package's
    ``globals()``, where a loaded name is kept so the import happens once."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if module.startswith("vocalsynth.") else f"{package}.{module}"
        value = getattr(importlib.import_module(target), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
