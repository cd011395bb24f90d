"""Replaying a recorded step on CUDA as one ``cupy.cuda.Graph`` (stream capture into static buffers).

NOTE: this module has never run: it was written on a machine without a GPU, and its tests (in test_compile.py,
marked ``cuda``) skip there. Until they have passed on a GPU, ``gpuad.compile`` uses it only when the environment
variable ``GPUAD_CUDA_GRAPHS=1`` is set; without it a CUDA step replays as the recorded sequence of launches.

How it works: the recorded program is run once on a side stream under stream capture, with the arguments copied into
static buffers first and every array the capture allocates taken from a private memory pool, so that nothing outside
the graph can reuse those buffers later (PyTorch's graphs keep a private pool for the same reason). cuBLAS gets a
workspace from that pool before capture, so it does not allocate inside it. The capture is relaxed
(``cudaStreamCaptureModeRelaxed``) because the pool may have to ``cudaMalloc`` a new block. Each later call copies the
new arguments into the static buffers, launches the graph, and copies the returned tensors out (so values returned by
earlier calls do not change).

Host values a replay reads afresh (the learning rate, momentum) are kernel arguments frozen into the graph, so the
graph is keyed by them (the optimizers' ``param_groups``): when that key changes the step is captured again; when it
changes on every call (a scheduler stepping every call) graphs are abandoned for that program with a warning and the
launches are replayed instead. Only steps whose optimizers are all ``SGD`` are captured: Adam's update changes its
Python-side state (the step count) as it runs, which a capture (that runs the Python but not the kernels) would
advance without doing the step; those steps replay as launches.
"""
import os
import warnings
from ..optim import SGD

CUBLAS_WORKSPACE_BYTES = 4 << 20
MAX_CAPTURES = 3  # captures in a row with a new host-value key before graphs are abandoned for a program


def enabled():
    return os.environ.get("GPUAD_CUDA_GRAPHS") == "1"


def capturable(scope):
    """Whether the step's optimizers keep no Python-side state that their update changes (only SGD's)."""
    return all(type(opt) is SGD for opt in scope.optimizers)


def host_key(scope):
    """The host values the recorded optimizer updates pass to their kernels."""
    key = []
    for opt in scope.optimizers:
        for group in opt.param_groups:
            key.append(tuple(sorted((k, repr(v)) for k, v in group.items() if k != "params")))
    return tuple(key)


class GraphReplay:
    """One program captured as a CUDA graph for one host-value key."""

    def __init__(self, program, flat_args, key):
        import cupy  # lazy: import gpuad never imports CuPy
        self.cupy = cupy
        self.program = program
        self.key = key
        self.pool = cupy.cuda.MemoryPool()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        with cupy.cuda.using_allocator(self.pool.malloc):
            self.static = {i: cupy.empty_like(flat_args[i]._data) for i, _ in program.arg_slots}
            self.workspace = self.pool.malloc(CUBLAS_WORKSPACE_BYTES)
            cupy.cuda.get_current_stream().synchronize()
            with self.stream:
                self._set_cublas_workspace()
                self._copy_in(flat_args)
                self.stream.begin_capture(mode=cupy.cuda.runtime.streamCaptureModeRelaxed)
                try:
                    self.env = program.run_calls({slot: self.static[i] for i, slot in program.arg_slots})
                finally:
                    self.graph = self.stream.end_capture()

    def _set_cublas_workspace(self):
        from cupy_backends.cuda.libs import cublas  # lazy: import gpuad never imports CuPy
        handle = self.cupy.cuda.device.get_cublas_handle()
        cublas.setStream(handle, self.stream.ptr)
        if hasattr(cublas, "setWorkspace"):
            cublas.setWorkspace(handle, self.workspace.ptr, CUBLAS_WORKSPACE_BYTES)

    def _copy_in(self, flat_args):
        for i, buf in self.static.items():
            self.cupy.copyto(buf, flat_args[i]._data)

    def launch(self, flat_args):
        """Run the captured step on new arguments; returns what the step returned (copies, not the static
        buffers)."""
        cupy = self.cupy
        current = cupy.cuda.get_current_stream()
        self.stream.wait_event(current.record())
        with self.stream:
            self._copy_in(flat_args)
            self.graph.launch(self.stream)
            result = self.program.finish_replay(self.env, copy=True)
        current.wait_event(self.stream.record())
        return result


class GraphCache:
    """The graph of one program, captured again when its host-value key changes, abandoned when that is always.
    Captures and launches run through ``backend.on_device``: the streams, the private pool and the graph belong to
    the program's GPU, which must be current while they are made and used."""

    def __init__(self, program, backend):
        self.program = program
        self.backend = backend
        self.graph = None
        self.captures = 0
        self.abandoned = False

    def replay(self, flat_args, scope):
        if self.abandoned or not capturable(scope):
            return self.program.replay(flat_args)
        key = host_key(scope)
        if self.graph is None or self.graph.key != key:
            self.captures += 1
            if self.captures > MAX_CAPTURES:
                self.abandoned = True
                self.graph = None
                warnings.warn("gpuad.compile: the step's host values (learning rate, Adam's step count) change on "
                              "every call, so it replays as kernel launches instead of a CUDA graph", stacklevel=3)
                return self.program.replay(flat_args)
            self.graph = self.backend.on_device(GraphReplay, self.program, flat_args, key)
        else:
            self.captures = 0
        return self.backend.on_device(self.graph.launch, flat_args)
