"""Step hooks as in torch.optim: ``opt.register_step_pre_hook(hook)`` / ``register_step_post_hook(hook)`` and the
global ``register_optimizer_step_pre_hook`` / ``register_optimizer_step_post_hook``. Every optimizer's ``step``
(a user's subclass too) runs them: pre-hooks ``hook(opt, args, kwargs)`` may return new ``(args, kwargs)``."""
import functools
from itertools import chain

from ..autograd.graph import HookHandle

__all__ = ["register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]

_global_pre_hooks = []
_global_post_hooks = []


def register_optimizer_step_pre_hook(hook):
    """Run ``hook(optimizer, args, kwargs)`` before every optimizer's step; returns a handle with ``remove()``."""
    _global_pre_hooks.append(hook)
    return HookHandle(_global_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """Run ``hook(optimizer, args, kwargs)`` after every optimizer's step; returns a handle with ``remove()``."""
    _global_post_hooks.append(hook)
    return HookHandle(_global_post_hooks, hook)


def with_step_hooks(step):
    """``step`` running the global and the optimizer's own hooks around it, once per call (a subclass's step that
    calls ``super().step()`` runs them once)."""
    if getattr(step, "_runs_step_hooks", False):
        return step

    @functools.wraps(step)
    def hooked(*args, **kwargs):
        self = args[0]
        if getattr(self, "_in_step", False):
            return step(*args, **kwargs)
        for hook in chain(list(_global_pre_hooks), list(self._step_pre_hooks)):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{hook} must return None or a tuple of (new_args, new_kwargs), but got "
                                       f"{result}.")
                args, kwargs = result
        self._in_step = True
        try:
            out = step(*args, **kwargs)
        finally:
            self._in_step = False
        for hook in chain(list(self._step_post_hooks), list(_global_post_hooks)):
            hook(self, args, kwargs)
        return out

    hooked._runs_step_hooks = True
    return hooked
