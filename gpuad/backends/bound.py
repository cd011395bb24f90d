"""Device-bound namespaces: an array module (CuPy) whose every function runs with one device current.

CuPy allocates on, and launches kernels on, whatever GPU is current, not the one its inputs live on; a backend for
``cuda:1`` that calls ``cupy.zeros`` outside its device context allocates on GPU 0. ``bound_namespace(cupy, device)``
wraps each function (and each method of a ufunc, and each function of a submodule such as ``random`` or ``linalg``)
to enter ``device`` once per call. Classes, dtypes and constants are cupy's own objects, so ``isinstance`` checks
still work; a class is not bound, so constructing one that allocates (``RandomState``) needs the context around it.
Wrappers are made on first access and cached, so building a namespace costs nothing. Imports no array library.
"""
import functools
import inspect
from types import ModuleType


class BoundNamespace:
    """``module``'s names, each function entering ``context`` around its call (wrapped on first use, then cached)."""

    def __init__(self, module, context, extras=None):
        self.__dict__["_bound_module"] = module
        self.__dict__["_bound_context"] = context
        for name, value in (extras or {}).items():
            self.__dict__[name] = bind(value, context)

    def __getattr__(self, name):  # only called for names not cached yet
        try:
            value = getattr(self._bound_module, name)
        except AttributeError:
            raise AttributeError(f"{self._bound_module.__name__!r} (bound to {self._bound_context!r}) has no "
                                 f"attribute {name!r}") from None
        value = self.__dict__[name] = bind(value, self._bound_context)
        return value

    def __dir__(self):
        return sorted((set(dir(self._bound_module)) | set(self.__dict__)) - {"_bound_module", "_bound_context"})

    def __repr__(self):
        return f"<{self._bound_module.__name__} bound to {self._bound_context!r}>"


class BoundCallable:
    """A callable object that is not a plain function (a ufunc, a gufunc): calls and method calls (``add.at``,
    ``maximum.reduce``) enter ``context``; other attributes (``nin``, ``__name__``) are the object's own."""

    def __init__(self, target, context):
        self.__dict__["_bound_target"] = target
        self.__dict__["_bound_context"] = context

    def __call__(self, *args, **kwargs):
        with self._bound_context:
            return self._bound_target(*args, **kwargs)

    def __getattr__(self, name):
        value = self.__dict__[name] = bind(getattr(self._bound_target, name), self._bound_context)
        return value

    def __repr__(self):
        return f"<{self._bound_target!r} bound to {self._bound_context!r}>"


def bind(value, context):
    """``value`` made to run inside ``context``: functions wrapped, modules and callable objects bound through; classes
    and everything that is not callable returned as they are (identical objects)."""
    if isinstance(value, ModuleType):
        return BoundNamespace(value, context)
    if isinstance(value, type) or not callable(value):
        return value
    if inspect.isroutine(value):
        return _bound_function(value, context)
    return BoundCallable(value, context)


def _bound_function(fn, context):
    def bound(*args, **kwargs):
        with context:
            return fn(*args, **kwargs)
    return functools.update_wrapper(bound, fn)


def bound_namespace(module, context, **extras):
    """``module`` with every function running inside ``context``, plus ``extras`` (functions it lacks), bound too."""
    return BoundNamespace(module, context, extras)
