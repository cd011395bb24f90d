"""Work: the handle an ``async_op=True`` collective returns; ``wait()`` completes it and writes its result."""


class Work:
    """A collective in flight. ``wait()`` blocks until it has finished (for NCCL: orders the current CUDA stream after
    it) and then writes its result into the output tensors; ``is_completed()`` asks without blocking."""
    __slots__ = ("_pending", "_finish", "_done")

    def __init__(self, pending, finish):
        self._pending, self._finish, self._done = pending, finish, False

    def wait(self, timeout=None):
        if timeout is not None:
            raise NotImplementedError("Work.wait(timeout=...): gpuad's collectives have no timeout; a failing rank "
                                      "aborts the whole job instead (see gpuad.distributed)")
        if not self._done:
            if self._pending is not None:
                self._pending.wait()
            self._complete()
        return True

    def is_completed(self):
        """True once the collective has finished (its result then written); never blocks."""
        if not self._done and (self._pending is None or self._pending.test()):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def _complete(self):
        self._done = True
        self._pending = None
        finish, self._finish = self._finish, None
        if finish is not None:
            finish()


def completed(pending, finish, async_op):
    """Finish a collective at once (``async_op=False``: returns None) or hand back its Work."""
    if async_op:
        return Work(pending, finish)
    if pending is not None:
        pending.wait()
    finish()
    return None
