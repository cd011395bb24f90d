"""gpuad's own composite modules: MLP (fused linear + activation per hidden layer) and Checkpoint."""
from .container import Sequential
from .dropout import Dropout
from .linear import Linear
from .module import Module
from ..autograd.checkpoint import checkpoint, checkpoint_sequential


class Checkpoint(Module):
    """Runs the wrapped module under gpuad.checkpoint: its activations are recomputed in backward, not kept."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        return checkpoint(self.module, *args)


class MLP(Module):
    """A multilayer perceptron: ``sizes = [in, hidden..., out]``, fused linear + activation for every hidden layer,
    optional dropout, a plain linear output layer; ``checkpoint_segments=k`` checkpoints the layers in k segments."""

    def __init__(self, sizes, activation="relu", dropout=0.0, checkpoint_segments=None, device=None, dtype=None):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(Linear(a, b, activation=None if last else activation, device=device, dtype=dtype))
            if dropout and not last:
                layers.append(Dropout(dropout))
        self.layers = Sequential(*layers)
        if checkpoint_segments is not None and not 1 <= checkpoint_segments <= len(layers):
            raise ValueError(f"MLP: checkpoint_segments must be between 1 and {len(layers)}, got "
                             f"{checkpoint_segments}")
        self.checkpoint_segments = checkpoint_segments

    def forward(self, x):
        if self.checkpoint_segments is None:
            return self.layers(x)
        return checkpoint_sequential(self.layers, self.checkpoint_segments, x)
