"""Hypothesis strategies that turn an op's :class:`~kittygrad_core.Conformance` into test cases.

A :class:`Case` is everything one check needs: the dtype, the input arrays and the options. Values
come from a NumPy generator seeded by hypothesis, so hypothesis explores shapes, dtypes and options
while the values stay continuous (no ties, no exact kinks) and cheap to draw.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_DIMS = 3
MAX_SIDE = 3
DTYPES = ("float32", "float64")
DOMAINS = {"any": (-3.0, 3.0), "positive": (0.1, 3.0), "unit": (-0.9, 0.9)}
#: Generated values keep at least this far from an op's kinks (and from 0 for "nonzero").
KINK_MARGIN = 0.01


@dataclass
class Case:
    """One generated example: input arrays of one dtype, the op's options and a seed for the rest."""

    dtype: str
    arrays: list[np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def rng(self) -> np.random.Generator:
        """A generator for what the checks draw (upstream gradients, directions), fixed per case.

        Its stream is not the one the values came from, so gradients do not mirror the inputs."""
        return np.random.default_rng((self.seed, 1))

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        with np.printoptions(precision=17, threshold=200):
            values = "; ".join(np.array2string(a, separator=", ") for a in self.arrays)
        return (f"Case(dtype={self.dtype}, shapes=[{shapes}], options={self.options!r}, "
                f"seed={self.seed}, values=[{values}])")


# ----------------------------------------------------------------------------- shapes


def _sides(draw: Any, empty: bool) -> int:
    """The smallest side a shape may have: 0 in about one case in five when the op allows it."""
    return 0 if empty and draw(st.integers(0, 4)) == 4 else 1


def _side(draw: Any, min_side: int) -> int:
    return draw(st.integers(min_side, MAX_SIDE))


def _shape(draw: Any, min_side: int, min_dims: int = 0, max_dims: int = MAX_DIMS) -> tuple[int, ...]:
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                 max_side=MAX_SIDE))


def _batch_suffixes(draw: Any, base: tuple[int, ...], ndims: list[int]) -> list[tuple[int, ...]]:
    """For each ndim, a trailing part of ``base`` with some dims set to 1: shapes that broadcast."""
    out = []
    for ndim in ndims:
        part = base[len(base) - ndim:] if ndim else ()
        out.append(tuple(1 if draw(st.booleans()) else side for side in part))
    return out


def _matmul_shapes(draw: Any, min_side: int) -> list[tuple[int, ...]]:
    """Every torch.matmul case: 1-D and 2-D operands, and batches that broadcast (up to 4-D)."""
    ndim_a, ndim_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    m, n, p = (_side(draw, min_side) for _ in range(3))
    batch_a, batch_b = max(ndim_a - 2, 0), max(ndim_b - 2, 0)
    base = tuple(_side(draw, min_side) for _ in range(max(batch_a, batch_b)))
    prefix_a, prefix_b = _batch_suffixes(draw, base, [batch_a, batch_b])
    a = prefix_a + ((m, n) if ndim_a >= 2 else (n,))
    b = prefix_b + ((n, p) if ndim_b >= 2 else (n,))
    return [a, b]


def _fixed_shapes(kind: str, draw: Any, min_side: int) -> list[tuple[int, ...]]:
    """The shapes of the linear-algebra kinds, whose ranks are fixed."""
    b, m, n, p = (_side(draw, min_side) for _ in range(4))
    return {
        "dot": [(n,), (n,)],
        "outer": [(n,), (m,)],
        "mv": [(m, n), (n,)],
        "mm": [(m, n), (n, p)],
        "bmm": [(b, m, n), (b, n, p)],
    }[kind]


def _cat_shapes(draw: Any, min_side: int, count: int) -> tuple[list[tuple[int, ...]], dict]:
    """Shapes equal except along a drawn ``dim`` (which becomes the option ``dim``)."""
    base = _shape(draw, 1, min_dims=1)
    dim = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(count):
        shape = list(base)
        shape[dim] = _side(draw, min_side)
        shapes.append(tuple(shape))
    return shapes, {"dim": dim}


def input_count(record: type, conformance: Any, draw: Any) -> int:
    """How many tensor inputs to generate: declared, else the op's inputs, else 1 to 3 for ``*inputs``."""
    if conformance.inputs is not None:
        return conformance.inputs
    if getattr(record, "variadic", False):
        return draw(st.integers(1, 3))
    return max(len(record.input_names), 1)


def draw_shapes(draw: Any, record: type, conformance: Any) -> tuple[list[tuple[int, ...]], dict]:
    """The input shapes of one case, and any option the shape kind fixes (``dim`` for ``cat``)."""
    kind = conformance.shapes
    if callable(kind):
        return [tuple(s) for s in kind(draw)], {}
    min_side = _sides(draw, conformance.empty)
    count = input_count(record, conformance, draw)
    if kind == "broadcast" and count > 1:
        shapes = draw(hnp.mutually_broadcastable_shapes(
            num_shapes=count, min_dims=0, max_dims=MAX_DIMS, min_side=min_side, max_side=MAX_SIDE))
        return list(shapes.input_shapes), {}
    if kind in ("broadcast", "same", "stack"):
        return [_shape(draw, min_side)] * count, {}
    if kind == "matmul":
        return _matmul_shapes(draw, min_side), {}
    if kind in ("dot", "outer", "mv", "mm", "bmm"):
        return _fixed_shapes(kind, draw, min_side), {}
    if kind == "cat":
        return _cat_shapes(draw, min_side, count)
    raise ValueError(f"op '{record.name}': unknown conformance shapes kind {kind!r}")


# ----------------------------------------------------------------------------- options


def _dims(draw: Any, ndim: int) -> Any:
    """``None``, one dim, or a tuple of distinct dims (each possibly negative) of an ``ndim`` tensor."""
    size = max(ndim, 1)
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return None
    if choice == 1:
        return draw(st.integers(-size, size - 1))
    axes = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=size, unique=True))
    return tuple(a - size if draw(st.booleans()) else a for a in axes)


def draw_option(draw: Any, spec: Any, shapes: list[tuple[int, ...]]) -> Any:
    """One option value from its spec: a list, "dim", "dims", "newdim", "bool", a callable or a strategy."""
    ndim = len(shapes[0]) if shapes else 0
    if isinstance(spec, (list, tuple)):
        return draw(st.sampled_from(list(spec)))
    if isinstance(spec, st.SearchStrategy):
        return draw(spec)
    if callable(spec):
        return spec(draw, shapes)
    if spec == "dim":
        size = max(ndim, 1)
        return draw(st.integers(-size, size - 1))
    if spec == "dims":
        return _dims(draw, ndim)
    if spec == "newdim":
        return draw(st.integers(-(ndim + 1), ndim))
    if spec == "bool":
        return draw(st.booleans())
    raise ValueError(f"unknown conformance option spec {spec!r}")


# ----------------------------------------------------------------------------- values


def domain_of(domain: Any, index: int) -> Any:
    """The domain of input ``index``: ``domain`` holds one for all inputs or one per input."""
    is_range = (isinstance(domain, tuple) and len(domain) == 2
                and all(isinstance(v, (int, float)) for v in domain))
    if isinstance(domain, (list, tuple)) and not is_range:
        return domain[min(index, len(domain) - 1)]
    return domain


def _away_from(values: np.ndarray, points: tuple[float, ...], margin: float) -> np.ndarray:
    """Moves values closer than ``margin`` to one of ``points`` out to ``point +- margin``."""
    for point in points:
        near = np.abs(values - point) < margin
        values = np.where(near, point + np.where(values >= point, margin, -margin), values)
    return values


def draw_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, domain: Any,
                kinks: tuple[float, ...]) -> np.ndarray:
    """Uniform values in ``domain`` (``"any"``, ``"positive"``, ``"nonzero"``, ``"unit"``, (low, high))."""
    if domain == "nonzero":
        values = rng.uniform(0.1, 3.0, shape) * rng.choice((-1.0, 1.0), shape)
    else:
        low, high = DOMAINS[domain] if isinstance(domain, str) else domain
        values = rng.uniform(low, high, shape)
    if kinks:
        values = _away_from(values, tuple(kinks), KINK_MARGIN)
    return np.asarray(values, dtype=dtype)


# ----------------------------------------------------------------------------- cases


@st.composite
def cases(draw: Any, record: type) -> Case:
    """Test cases for op ``record`` as its conformance metadata describes them."""
    conformance = record.conformance
    dtype = draw(st.sampled_from(DTYPES))
    shapes, options = draw_shapes(draw, record, conformance)
    for name, spec in conformance.options.items():
        if name not in options:
            options[name] = draw_option(draw, spec, shapes)
    if conformance.shapes == "stack" and "dim" not in options:
        options["dim"] = draw_option(draw, "newdim", shapes)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    arrays = [draw_values(rng, shape, dtype, domain_of(conformance.domain, i), conformance.kinks)
              for i, shape in enumerate(shapes)]
    return Case(dtype, arrays, options, seed)

