"""The part of autograd that ops record into: grad mode, anomaly mode, view tracking and the graph's nodes.

It sits below ``gpuad.ops`` (it imports only ``gpuad.tensor`` and lower), which ``gpuad.autograd`` cannot, since its
engine and functional API use ops. ``gpuad.autograd.grad_mode``, ``.graph`` and ``.anomaly_mode`` re-export these
modules under PyTorch's public paths.
"""
