"""ReduceOp: how a collective combines the ranks' values, with PyTorch's names."""


class ReduceOp:
    """``ReduceOp.SUM``, ``AVG``, ``MAX``, ``MIN``, ``PRODUCT`` (PyTorch's names; AVG needs a floating-point tensor)."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"

    def __reduce__(self):
        return (getattr, (ReduceOp, self.name))


for _name in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
    setattr(ReduceOp, _name, ReduceOp(_name))
del _name

OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT)


def as_reduce_op(op, who):
    """The ReduceOp named by ``op`` (a ReduceOp or its name), or a clear error."""
    if op.__class__ is ReduceOp:
        return op
    if isinstance(op, str) and hasattr(ReduceOp, op.upper()) and op.upper() in {o.name for o in OPS}:
        return getattr(ReduceOp, op.upper())
    if op not in OPS:
        raise ValueError(f"{who}: op must be one of ReduceOp.SUM, AVG, MAX, MIN, PRODUCT, got {op!r}")
    return op
