"""einsum as a sequence of differentiable ops: diagonals for repeated subscripts, sums for subscripts nobody else
needs, and one batched matmul per pair of operands (as PyTorch contracts), so gradients, forward mode and batched
gradients come from the ops it is made of."""
from .linalg import diagonal, matmul
from ._lift import one
from ..tensor import Tensor


def _parse(equation, shapes):
    """(input subscripts per operand, output subscripts), with '...' expanded to letters of its own."""
    equation = equation.replace(" ", "")
    if "->" in equation:
        lhs, rhs = equation.split("->")
    else:
        lhs, rhs = equation, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s) but {len(shapes)} were given")
    used = set(equation) - set(".,->")
    spare = [chr(c) for c in range(0x100, 0x200) if chr(c) not in used]  # stand-ins for the dims under '...'
    ell = max((len(s) - (len(t) - 3) if "..." in t else 0) for t, s in zip(terms, shapes))
    ell_letters = "".join(spare[:ell])
    subs = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            if n < 0:
                raise ValueError(f"einsum: operand of shape {shape} has fewer dims than the subscripts {term!r}")
            term = term.replace("...", ell_letters[ell - n:])
        if len(term) != len(shape):
            raise ValueError(f"einsum: subscripts {term!r} do not match an operand of shape {shape}")
        for ch in term:
            if not (ch.isalpha() or ch in ell_letters):
                raise ValueError(f"einsum: invalid subscript {ch!r} in {equation!r}")
        subs.append(term)
    if rhs is None:
        counts = {}
        for term in subs:
            for ch in term:
                counts[ch] = counts.get(ch, 0) + 1
        rhs = ell_letters + "".join(sorted(ch for ch, k in counts.items() if k == 1 and ch not in ell_letters))
    else:
        rhs = rhs.replace("...", ell_letters)
        if len(set(rhs)) != len(rhs):
            raise ValueError(f"einsum: output subscripts {rhs!r} repeat a letter")
        for ch in rhs:
            if not any(ch in term for term in subs):
                raise ValueError(f"einsum: output subscript {ch!r} does not appear in the inputs of {equation!r}")
    return subs, rhs


def _take_diagonals(x, term):
    """Collapse repeated subscripts of one operand ('ii' -> 'i') by taking diagonals."""
    while len(set(term)) != len(term):
        for i, ch in enumerate(term):
            j = term.find(ch, i + 1)
            if j >= 0:
                if x.shape[i] != x.shape[j]:
                    raise ValueError(f"einsum: subscript {ch!r} has sizes {x.shape[i]} and {x.shape[j]}")
                x = diagonal(x, 0, i, j)  # the diagonal goes last
                term = term[:i] + term[i + 1:j] + term[j + 1:] + ch
                break
    return x, term


def _sum_out(x, term, keep):
    drop = [i for i, ch in enumerate(term) if ch not in keep]
    if drop:
        x = x.sum(tuple(drop))
        term = "".join(ch for ch in term if ch in keep)
    return x, term


def _contract(a, ta, b, tb, keep):
    """Contract two operands over their shared subscripts that ``keep`` does not need, with one matmul."""
    sizes = {}
    for x, t in ((a, ta), (b, tb)):
        for ch, s in zip(t, x.shape):
            if sizes.get(ch, 1) == 1:
                sizes[ch] = s
            elif s not in (1, sizes[ch]):
                raise ValueError(f"einsum: subscript {ch!r} has sizes {sizes[ch]} and {s}")
    batch = [ch for ch in ta if ch in tb and ch in keep]
    summed = [ch for ch in ta if ch in tb and ch not in keep]
    left = [ch for ch in ta if ch not in tb]
    right = [ch for ch in tb if ch not in ta]

    def arrange(x, t, order):
        x = x.permute([t.index(ch) for ch in order]) if list(order) != list(t) else x
        return x.expand([sizes[ch] for ch in order])
    a = arrange(a, ta, batch + left + summed)
    b = arrange(b, tb, batch + summed + right)
    prod = lambda chars: int(__import__("math").prod(sizes[ch] for ch in chars))  # noqa: E731
    nb, nl, ns, nr = prod(batch), prod(left), prod(summed), prod(right)
    out = matmul(a.reshape(nb, nl, ns), b.reshape(nb, ns, nr))
    return out.reshape([sizes[ch] for ch in batch + left + right]), "".join(batch + left + right)


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: ``einsum('ij,jk->ik', a, b)``; operands may also come as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    xs = [x if isinstance(x, Tensor) else one(x) for x in operands]
    subs, rhs = _parse(equation, [tuple(x.shape) for x in xs])
    terms = []
    for k, (x, t) in enumerate(zip(xs, subs)):
        x, t = _take_diagonals(x, t)
        others = set(rhs).union(*(set(s) for j, s in enumerate(subs) if j != k))
        terms.append(_sum_out(x, t, others))
    result, term = terms[0]
    for k in range(1, len(terms)):
        later = set(rhs).union(*(set(t) for _, t in terms[k + 1:]))
        b, tb = terms[k]
        result, term = _contract(result, term, b, tb, later)
        result, term = _sum_out(result, term, later)
    result, term = _sum_out(result, term, set(rhs))
    if term != rhs:
        result = result.permute([term.index(ch) for ch in rhs])
    return result
