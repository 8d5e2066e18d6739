"""The hypothesis strategies of the ops' conformance metadata, in one place.

Each is a ``Conformance`` callable: ``f(draw) -> list of shapes`` (``shapes=``) or ``f(draw, shapes) ->
value`` (``options=``). hypothesis is imported inside them: kittygrad-ops does not depend on it, only
its conformance suite does.
"""
from __future__ import annotations

import math

import numpy as np


def rarely(draw):
    """True in about one draw in ten (hypothesis favours the ends of a range, so not 0 of 0..9)."""
    from hypothesis import strategies as st
    return draw(st.integers(1, 10)) == 5


# ---------------------------------------------------------------- shapes


def shapes(min_dims=1, max_dims=4, max_side=4, min_side=0, count=1):
    """``count`` copies of one shape of ``min_dims`` to ``max_dims`` dims of sides ``min_side`` (at
    least 1) to ``max_side``; with ``min_side=0``, now and then one side is 0 (an empty tensor)."""
    def draw_shapes(draw):
        from hypothesis import strategies as st
        shape = [draw(st.integers(max(min_side, 1), max_side))
                 for _ in range(draw(st.integers(min_dims, max_dims)))]
        if shape and min_side == 0 and rarely(draw):
            shape[draw(st.integers(0, len(shape) - 1))] = 0
        return [tuple(shape)] * count
    return draw_shapes


def with_ones(draw):
    """A shape of up to 4 dims, many of them of size 1 (for ``squeeze``)."""
    from hypothesis import strategies as st
    return [tuple(draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4)))]


def index_shapes(draw):
    """A shape of 1 to 3 dims of sides 0 to 4 (for indexing)."""
    from hypothesis import strategies as st
    return [tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))]


def put_shapes(draw):
    """A target of shape ``(3, n)`` and values of shape ``(1,)`` or ``()`` (for ``x[key] = values``)."""
    from hypothesis import strategies as st
    return [(3, draw(st.integers(2, 4))), draw(st.sampled_from([(1,), ()]))]


def bmm_shapes(draw):
    """Shapes for bmm: one or two equal batch dims (torch checks the 3-D case with bmm, else matmul)."""
    from hypothesis import strategies as st
    side = st.integers(0, 3)
    batch = tuple(draw(st.lists(side, min_size=1, max_size=2)))
    n, m, p = draw(side), draw(side), draw(side)
    return [batch + (n, m), batch + (m, p)]


def case_index(count):
    """A strategy of indices into ``count`` hand-written cases."""
    from hypothesis import strategies as st
    return st.integers(0, count - 1)


# ---------------------------------------------------------------- dims


def dim_or_none(draw, shapes):
    """``None`` or one valid dim of the first input."""
    from hypothesis import strategies as st
    n = max(len(shapes[0]), 1)
    return draw(st.none() | st.integers(-n, n - 1))


def norm_dims(draw, shapes):
    """``norm``'s dim: ``None``, one dim or two distinct dims (``'fro'`` takes at most 2)."""
    from hypothesis import strategies as st
    ndim = len(shapes[0])
    pair = st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True).map(tuple)
    return draw(st.none() | st.integers(-max(ndim, 1), max(ndim, 1) - 1) | (pair if ndim >= 2 else st.none()))


def flip_dims(draw, shapes):
    """Distinct dims of the first input, each negative or not."""
    from hypothesis import strategies as st
    size = max(len(shapes[0]), 1)
    axes = draw(st.lists(st.integers(0, size - 1), max_size=size, unique=True))
    return tuple(a - size if draw(st.booleans()) else a for a in axes)


def permutation(draw, shapes):
    """A permutation of the first input's dims."""
    from hypothesis import strategies as st
    return tuple(draw(st.permutations(range(len(shapes[0])))))


def newdims(draw, shapes):
    """An insertion dim, or a tuple of distinct positions in the result (kittygrad's extension)."""
    from hypothesis import strategies as st
    ndim = len(shapes[0])
    if draw(st.booleans()):
        return draw(st.integers(-(ndim + 1), ndim))
    count = draw(st.integers(0, 2))
    if not count:
        return ()
    axes = draw(st.lists(st.integers(0, ndim + count - 1), min_size=count, max_size=count, unique=True))
    return tuple(a - (ndim + count) if draw(st.booleans()) else a for a in axes)


def flatten_start(draw, shapes):
    """Any valid start_dim, negative or not."""
    from hypothesis import strategies as st
    size = max(len(shapes[0]), 1)
    return draw(st.integers(-size, size - 1))


def flatten_end(draw, shapes):
    """The last dim, negative or not: never before any start_dim."""
    from hypothesis import strategies as st
    return draw(st.sampled_from([-1, max(len(shapes[0]), 1) - 1]))


# ---------------------------------------------------------------- sizes


def _factor(n):
    out, p = [], 2
    while n > 1 and p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out if n != 0 else [0]


def target_shape(draw, shapes):
    """A shape with as many elements as ``shapes[0]``, sometimes with a ``-1``."""
    from hypothesis import strategies as st
    factors = [f for n in shapes[0] for f in _factor(n)]
    if not factors:
        return draw(st.sampled_from([(), (1,), (1, 1)]))
    order = draw(st.permutations(factors))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=3)))
    bounds = [0, *[c for c in cuts if c < len(order)], len(order)]
    shape = [int(np.prod(order[a:b])) for a, b in zip(bounds, bounds[1:])]
    if 0 not in shape and draw(st.booleans()):
        shape[draw(st.integers(0, len(shape) - 1))] = -1
    return tuple(shape)


def expanded(draw, shapes):
    """A size ``shapes[0]`` broadcasts to: leading dims added, size-1 dims grown, ``-1`` at times."""
    from hypothesis import strategies as st
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    return tuple(lead) + tuple(draw(st.sampled_from([n, -1])) if n != 1 else draw(st.integers(1, 3))
                               for n in shapes[0])


def narrow_args(draw, shapes):
    """``(dim, start, length)``: mostly a non-empty slice; a negative start or a zero length at times."""
    from hypothesis import strategies as st
    shape = shapes[0]
    dim = draw(st.integers(0, len(shape) - 1))
    n = shape[dim]
    start = draw(st.integers(0, max(n - 1, 0)))
    length = 0 if n == 0 or rarely(draw) else draw(st.integers(1, n - start))
    if start and draw(st.booleans()):
        start -= n  # the same position counted from the end
    return dim, start, length


# ---------------------------------------------------------------- masks, indices and keys


def mask(draw, shapes):
    """A boolean mask broadcastable to the input: a trailing part of its shape, some dims set to 1."""
    from hypothesis import strategies as st
    shape = shapes[0][len(shapes[0]) - draw(st.integers(0, len(shapes[0]))):]
    shape = tuple(1 if draw(st.booleans()) else n for n in shape)
    return np.array(draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape))),
                    dtype=bool).reshape(shape)


def select_args(draw, shapes):
    """``(dim, index)`` for index_select: a 1-D index of valid positions along ``dim``."""
    from hypothesis import strategies as st
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    values = draw(st.lists(st.integers(0, n - 1), min_size=0 if rarely(draw) else 1, max_size=5)) if n else []
    return dim, np.array(values, dtype=np.int64)


def gather_args(draw, shapes):
    """``(dim, index)`` for gather: an index of the input's rank, no larger apart from ``dim``."""
    from hypothesis import strategies as st
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    sizes = [(draw(st.integers(1, 4)) if n else 0) if d == dim % len(shape) else draw(st.integers(min(s, 1), s))
             for d, s in enumerate(shape)]
    if sizes and rarely(draw):  # now and then an empty index
        sizes[draw(st.integers(0, len(sizes) - 1))] = 0
    count = math.prod(sizes)
    values = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=count, max_size=count))
    return dim, np.array(values, dtype=np.int64).reshape(sizes)


def draw_key(draw, shape, advanced):
    """A key valid for ``shape``: per dim an int, a slice (positive step) or, if ``advanced``, one index
    list or boolean mask at a drawn position; ``None`` is sometimes inserted."""
    from hypothesis import strategies as st
    at = draw(st.integers(0, len(shape) - 1)) if advanced else -1
    key = []
    for d, n in enumerate(shape[:max(at + 1, draw(st.integers(0, len(shape))))]):
        kind = draw(st.sampled_from(["list", "mask"] if n else ["mask"])) if d == at else \
            draw(st.sampled_from(["slice", "int"] if n else ["slice"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-n - 1, n + 1)
            key.append(slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3))))
        elif kind == "list":
            key.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
        else:
            key.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool))
        if draw(st.integers(0, 5)) == 0:
            key.append(None)
    return tuple(key)


def any_key(draw, shapes):
    """A basic or an advanced key for the first input."""
    from hypothesis import strategies as st
    return draw_key(draw, shapes[0], draw(st.booleans()))
