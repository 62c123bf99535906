"""Import plumbing: names a package exports lazily, and the aliases left at the engine's old module paths.

Both keep ``import spatialdiffusion`` (and so the CLI's ``--help``) free of torch and scanpy: a method's
modules are imported the first time one of its names is used.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` that import each exported name on first use.

    Parameters
    ----------
    package
        The exporting module's ``__name__``.
    exports
        Exported name -> module that defines it, relative to ``package`` (``"._model"``) or absolute, with
        ``":attribute"`` appended when the module names it otherwise (``"spatialdiffusion.plotting:pl_domains"``).
    submodules
        Submodules of ``package`` that are exported as themselves (``package.io``).

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign at the module's top level. A name, once imported, is stored
        in the module, so later look-ups do not pass through ``__getattr__``.
    """
    submodules = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # the import system binds it in the package
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = exports[name].partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports, *submodules})

    return __getattr__, __dir__


def warn_moved(old: str, new: str, *, stacklevel: int = 2) -> None:
    """Warn, with a :class:`DeprecationWarning`, that the module ``old`` moved to ``new``.

    Parameters
    ----------
    old
        ``__name__`` of the module at the old path.
    new
        Where its names are now, as shown to the user (``"spatialdiffusion.diffusionst"``).
    stacklevel
        As for :func:`warnings.warn`, counted from the caller: 2 (the default) points at the line that
        imported ``old`` when called from ``old``'s body (the import system's own frames are skipped).
    """
    warnings.warn(f"`{old}` is deprecated and will be removed in a future release; import from `{new}` instead.",
                  DeprecationWarning, stacklevel=stacklevel + 1)


def moved_module(old: str, new: str, public: str | None = None) -> ModuleType:
    """Make the module ``old`` an alias of the module ``new``, with :func:`warn_moved`'s warning.

    Called from the body of the module left at the old path. The warning comes once per process (the
    import system caches the module). ``old`` is then the very module ``new`` in ``sys.modules``, so its
    private names and monkeypatching keep working.

    Parameters
    ----------
    old
        ``__name__`` of the module at the old path.
    new
        Absolute name of the module that replaces it.
    public
        The path the warning recommends, when it is not ``new`` itself (the public package that exports
        ``new``'s names).

    Returns
    -------
    types.ModuleType
        The module ``new``.
    """
    warn_moved(old, public or new, stacklevel=3)
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module
