"""Pytrees, as ``torch.utils._pytree`` has them: nested tuples, lists, dicts and namedtuples whose other values are
leaves. The function transforms flatten their inputs and outputs to lists of leaves and rebuild them afterwards."""
from collections import OrderedDict

__all__ = ["TreeSpec", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves", "broadcast_prefix"]


class TreeSpec:
    """The shape of a pytree without its leaves: a container kind, its keys (for dicts and namedtuple types) and one
    spec per child; a leaf's spec has kind None."""
    __slots__ = ("kind", "context", "children", "num_leaves")

    def __init__(self, kind=None, context=None, children=()):
        self.kind, self.context, self.children = kind, context, tuple(children)
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in self.children)

    @property
    def is_leaf(self):
        return self.kind is None

    def __eq__(self, other):
        return (isinstance(other, TreeSpec) and self.kind == other.kind and self.context == other.context
                and self.children == other.children)

    def __hash__(self):
        return hash((self.kind, self.children))

    def __repr__(self):
        if self.kind is None:
            return "*"
        inner = ", ".join(map(repr, self.children))
        if self.kind in (dict, OrderedDict):
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.context, self.children))
        return f"{getattr(self.kind, '__name__', self.kind)}({inner})"


LEAF = TreeSpec()


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _children(tree):
    """(kind, context, children) of a container, or None for a leaf."""
    if _is_namedtuple(tree):
        return type(tree), None, list(tree)
    if type(tree) in (tuple, list):
        return type(tree), None, list(tree)
    if type(tree) in (dict, OrderedDict):
        return type(tree), tuple(tree.keys()), list(tree.values())
    return None


def tree_flatten(tree):
    """(the leaves in order, the spec that rebuilds the tree from them)."""
    leaves = []

    def walk(node):
        parts = _children(node)
        if parts is None:
            leaves.append(node)
            return LEAF
        kind, context, children = parts
        return TreeSpec(kind, context, [walk(c) for c in children])
    spec = walk(tree)
    return leaves, spec


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_unflatten(leaves, spec):
    """The tree ``spec`` describes, with ``leaves`` in place of its leaves (in order)."""
    leaves = list(leaves)
    if len(leaves) != spec.num_leaves:
        raise ValueError(f"tree_unflatten: the spec {spec!r} has {spec.num_leaves} leaves, got {len(leaves)} values")
    it = iter(leaves)

    def build(s):
        if s.kind is None:
            return next(it)
        children = [build(c) for c in s.children]
        if s.kind in (dict, OrderedDict):
            return s.kind(zip(s.context, children))
        if s.kind in (tuple, list):
            return s.kind(children)
        return s.kind(*children)  # a namedtuple
    return build(spec)


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix, tree, who="vmap", what="in_dims"):
    """One value of ``prefix`` per leaf of ``tree``: ``prefix`` is a tree that matches ``tree`` down to some depth,
    each of its leaves standing for every leaf below that point (how ``in_dims``/``out_dims`` are given)."""
    out = []

    def walk(p, t, path):
        t_parts = _children(t)
        p_parts = _children(p)
        if p_parts is None:
            out.extend([p] * tree_flatten(t)[1].num_leaves)
            return
        if t_parts is None or p_parts[0] is not t_parts[0] and not (_is_namedtuple(t) and p_parts[0] is tuple) \
                or len(p_parts[2]) != len(t_parts[2]) or p_parts[1] is not None and set(p_parts[1]) != set(t_parts[1]):
            raise ValueError(f"{who}: {what}{path} is {p!r}, which does not match the structure of the "
                             f"corresponding value ({_describe(t)}); give one entry per element, or a single int/None")
        if t_parts[1] is not None:  # dicts: match by key
            p_map = dict(zip(p_parts[1], p_parts[2]))
            for key, child in zip(t_parts[1], t_parts[2]):
                walk(p_map[key], child, f"{path}[{key!r}]")
        else:
            for i, (pc, tc) in enumerate(zip(p_parts[2], t_parts[2])):
                walk(pc, tc, f"{path}[{i}]")
    walk(prefix, tree, "")
    return out


def _describe(t):
    parts = _children(t)
    if parts is None:
        return type(t).__name__
    return f"{type(t).__name__} of {len(parts[2])}"
