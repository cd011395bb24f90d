"""``python -m gpuad.examples``: list the examples."""
from . import __doc__ as listing

print(listing)
