"""Runnable worked examples of automatic differentiation; run one with ``python -m gpuad.examples.<name>``.

three_methods       the same derivative by finite differences, central differences and AD (and their cost)
sin_derivative      sin and its derivative by AD, plotted (needs matplotlib)
detach              how .detach() cuts one path of the chain rule
control_flow        gradients through a data-dependent while loop and if
forward_vs_reverse  the forward tangent trace and the reverse adjoint trace of one function, side by side
linear_network      a four-layer linear network: weight gradients by reverse mode and by forward mode
"""
EXAMPLES = ["three_methods", "sin_derivative", "detach", "control_flow", "forward_vs_reverse", "linear_network"]
