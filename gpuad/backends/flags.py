"""The ``torch.backends`` switches that user scripts set (``gpuad.backends.cudnn.benchmark = True``,
``gpuad.backends.cuda.matmul.allow_tf32 = True``) and the availability questions they ask
(``gpuad.backends.mps.is_available()``).

gpuad uses neither cuDNN nor MKL-DNN nor Apple's MPS, and its CUDA matmuls are CuPy's (no TF32 unless CuPy is told
with CUPY_TF32=1), so the switches are recorded and readable but change nothing; the availability answers are
truthful (False).
"""


class _Flags:
    """A namespace of switches: attributes that can be read and set, plus the functions of its module in PyTorch."""

    def __init__(self, name, doc, **flags):
        object.__setattr__(self, "_name", name)
        self.__doc__ = doc
        for key, value in flags.items():
            object.__setattr__(self, key, value)

    def __repr__(self):
        return f"<gpuad.backends.{self._name} switches (no effect in gpuad)>"


cudnn = _Flags("cudnn", "cuDNN switches: gpuad does not use cuDNN, so they have no effect.",
               enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
               is_available=lambda: False, version=lambda: None)
mkldnn = _Flags("mkldnn", "MKL-DNN switches: gpuad does not use MKL-DNN.", enabled=True,
                is_available=lambda: False)
mps = _Flags("mps", "Apple MPS: gpuad has no MPS backend.", is_available=lambda: False, is_built=lambda: False)
cuda_matmul = _Flags("cuda.matmul", "CUDA matmul switches: gpuad's matmuls are CuPy's; recorded, no effect.",
                     allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                     allow_bf16_reduced_precision_reduction=True)
