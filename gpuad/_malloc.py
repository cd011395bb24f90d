"""glibc malloc settings that keep freed array memory for reuse, applied once when gpuad is imported.

With glibc's defaults an array of a few MB allocated and freed on every step is returned to the kernel each time and
page-faulted back in on the next step (about 1000 faults per 4 MB array, a third or more of a step's time at a
million elements). Raising the mmap threshold and the trim threshold makes glibc keep such blocks in the heap and
hand them out again, which is what PyTorch's CPU allocator achieves with its own cache. The cost: up to
``TRIM_THRESHOLD`` bytes of freed memory stay mapped in the process. Set ``GPUAD_MALLOC_TUNING=0`` before importing
gpuad to leave malloc alone; nothing is changed off glibc (macOS, Windows, musl), or where the user already set
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` themselves.
"""
import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc's own ceiling for its dynamic threshold)
TRIM_THRESHOLD = 64 << 20  # free memory at the top of the heap kept before it is given back (a step's worth)
applied = {}  # what was set, for gpuad.memory reports and tests


def apply():
    """Set the two thresholds through ``mallopt`` (process-wide, documented glibc API); returns what was set."""
    if applied or os.environ.get("GPUAD_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return applied
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return applied  # the user's own settings win
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only: musl has a mallopt that ignores these
    except (OSError, AttributeError):
        return applied
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1:
        applied["mmap_threshold"] = MMAP_THRESHOLD
    if mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
        applied["trim_threshold"] = TRIM_THRESHOLD
    return applied
