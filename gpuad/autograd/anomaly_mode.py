"""``gpuad.autograd.anomaly_mode``, PyTorch's public path for anomaly detection; it lives in
``gpuad._autograd.anomaly_mode``, below the ops whose nodes record forward stacks."""
from .._autograd.anomaly_mode import (check_gradients, detect_anomaly, forward_stack,  # noqa: F401
                                      is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly)
