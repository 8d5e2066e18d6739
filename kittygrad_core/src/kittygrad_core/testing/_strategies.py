"""Hypothesis strategies that turn an op's :class:`~kittygrad_core.Conformance` into test cases.

A :class:`Case` is everything one check needs: the dtype, the inputs and the options. Values come
from a NumPy generator seeded by hypothesis, so hypothesis explores shapes, dtypes, options and which
kinds of edge values a case carries (exact zeros, ties, values exactly at kinks and option bounds,
large magnitudes) while the values stay cheap to draw. Broadcast ops also get mixed float32/float64
operands and Python numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

if TYPE_CHECKING:
    from typing import TypeAlias

    from .._composite import Composite
    from .._op import Op

    Record: TypeAlias = type[Op] | type[Composite]  # what the registry holds

MAX_DIMS = 3
MAX_SIDE = 3
DTYPES = ("float32", "float64")
DOMAINS = {"any": (-3.0, 3.0), "positive": (0.1, 3.0), "unit": (-0.9, 0.9)}
#: Plain values keep at least this far from an op's kinks (and from 0 for "nonzero").
KINK_MARGIN = 0.01
#: The kinds of edge values an edge case may carry (see ``draw_values``).
EDGE_KINDS = ("zero", "tie", "special", "large")
#: Magnitudes of "large" edge values: a rule wrong only beyond the plain domain fails.
LARGE = (3.0, 100.0)
#: Share of the elements an edge kind overwrites (ties overwrite more, so extremes tie too).
EDGE_SHARE, TIE_SHARE = 0.3, 0.7


@dataclass
class Case:
    """One generated example: input arrays of one dtype, the op's options and a seed for the rest."""

    dtype: str
    arrays: list[Any]
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    edges: tuple[str, ...] = ()
    meta: Any = None

    def rng(self) -> np.random.Generator:
        """A generator for what the checks draw (upstream gradients, directions), fixed per case.

        Its stream is not the one the values came from, so gradients do not mirror the inputs."""
        return np.random.default_rng((self.seed, 1))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                           for a in self.arrays)
        with np.printoptions(precision=17, threshold=200):
            values = "; ".join(np.array2string(a, separator=", ") if isinstance(a, np.ndarray)
                               else repr(a) for a in self.arrays)
        return (f"Case(dtype={self.dtype}, inputs=[{shapes}], options={self.options!r}, "
                f"edges={self.edges!r}, seed={self.seed}, values=[{values}])")


# ----------------------------------------------------------------------------- shapes


def _sides(draw: Any, empty: bool) -> int:
    """The smallest side a shape may have: 0 in about one case in five when the op allows it."""
    return 0 if empty and draw(st.integers(0, 4)) == 4 else 1


def _side(draw: Any, min_side: int) -> int:
    return draw(st.integers(min_side, MAX_SIDE))  # type: ignore[no-any-return]  # hypothesis draws are Any


def _shape(draw: Any, min_side: int, min_dims: int = 0, max_dims: int = MAX_DIMS) -> tuple[int, ...]:
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,  # type: ignore[no-any-return]  # hypothesis draws are Any
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
    return {  # type: ignore[return-value]  # each kind maps to a list of shapes
        "dot": [(n,), (n,)],
        "outer": [(n,), (m,)],
        "mv": [(m, n), (n,)],
        "mm": [(m, n), (n, p)],
        "bmm": [(b, m, n), (b, n, p)],
    }[kind]


def _cat_shapes(draw: Any, min_side: int, count: int) -> tuple[list[tuple[int, ...]], dict[Any, Any]]:
    """Shapes equal except along a drawn ``dim`` (which becomes the option ``dim``)."""
    base = _shape(draw, 1, min_dims=1)
    dim = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(count):
        shape = list(base)
        shape[dim] = _side(draw, min_side)
        shapes.append(tuple(shape))
    return shapes, {"dim": dim}


def input_count(record: Record, conformance: Any, draw: Any) -> int:
    """How many tensor inputs to generate: declared, else the op's inputs, else 1 to 3 for ``*inputs``."""
    if conformance.inputs is not None:
        return conformance.inputs  # type: ignore[no-any-return]  # conformance is Any here
    if getattr(record, "variadic", False):
        return draw(st.integers(1, 3))  # type: ignore[no-any-return]  # hypothesis draws are Any
    return max(len(record.input_names), 1)


def draw_shapes(draw: Any, record: Record, conformance: Any) -> tuple[list[tuple[int, ...]], dict[Any, Any]]:
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


def in_domain(domain: Any, value: float) -> bool:
    """Whether an edge value may be used in ``domain`` (the named domains extend to their edges)."""
    if domain == "any":
        return bool(np.isfinite(value))
    if domain == "nonzero":
        return value != 0
    if domain == "positive":
        return value > 0
    low, high = DOMAINS[domain] if isinstance(domain, str) else domain
    return low <= value <= high


def _away_from(values: np.ndarray, points: tuple[float, ...], margin: float) -> np.ndarray:
    """Moves values closer than ``margin`` to one of ``points`` out to ``point +- margin``."""
    for point in points:
        near = np.abs(values - point) < margin
        values = np.where(near, point + np.where(values >= point, margin, -margin), values)
    return values


def _take(rng: np.random.Generator, free: np.ndarray, share: float, least: int = 1,
          keep: int = 0) -> np.ndarray:
    """A random mask of about ``share`` of the ``free`` elements, at least ``least`` of them (as many
    as are free), leaving ``keep`` free for the kinds still to come where there is room; the chosen
    elements are no longer free, so edge kinds do not overwrite each other."""
    mask = np.array(rng.random(free.shape) < share) & free
    candidates = np.flatnonzero(free & ~mask)
    missing = min(least - int(mask.sum()), candidates.size)
    if missing > 0:
        mask.flat[rng.choice(candidates, missing, replace=False)] = True
    excess = min(keep - int((free & ~mask).sum()), int(mask.sum()) - least)
    if excess > 0:
        mask.flat[rng.choice(np.flatnonzero(mask), excess, replace=False)] = False
    free &= ~mask
    return mask  # type: ignore[no-any-return]  # NumPy types it Any


def draw_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, domain: Any,
                kinks: tuple[float, ...], edges: tuple[str, ...] = (),
                specials: tuple[float, ...] = (), pool: tuple[float, ...] = ()) -> np.ndarray:
    """Values in ``domain`` (``"any"``, ``"positive"``, ``"nonzero"``, ``"unit"``, (low, high)).

    Plain values are uniform and keep ``KINK_MARGIN`` away from ``kinks``. Each kind in ``edges``
    then takes some of the elements (at least one while any is left): ``"special"`` values exactly
    at the ``specials`` (kinks and numeric options) that lie in the domain, ``"zero"`` exact zeros,
    ``"tie"`` values repeated from a small pool (``pool``, shared by the case's inputs, where it
    fits the domain), ``"large"`` magnitudes in ``LARGE`` (named domains only).
    """
    if domain == "nonzero":
        values = rng.uniform(0.1, 3.0, shape) * rng.choice((-1.0, 1.0), shape)
    else:
        low, high = DOMAINS[domain] if isinstance(domain, str) else domain
        values = rng.uniform(low, high, shape)
    if kinks:
        values = _away_from(values, tuple(kinks), KINK_MARGIN)
    values = np.array(values, dtype=np.float64)
    free = np.ones(values.shape, dtype=bool)
    points = [p for p in specials if in_domain(domain, p)]
    kinds = rng.permutation(sorted(edges))  # in random order: small tensors hold few edges
    needs = [len(points) if kind == "special" else 2 if kind == "tie" else 1 for kind in kinds]
    for done, kind in enumerate(kinds):
        keep = sum(needs[done + 1:])  # room for the kinds still to come
        if kind == "special" and points:  # every point at least once when there is room
            mask = _take(rng, free, EDGE_SHARE, least=len(points), keep=keep)
            count = int(mask.sum())
            values[mask] = rng.permutation(np.resize(rng.permutation(points), count))
        elif kind == "zero" and in_domain(domain, 0.0):
            values[_take(rng, free, EDGE_SHARE, keep=keep)] = 0.0
        elif kind == "tie":
            fits = [v for v in pool if in_domain(domain, v)]
            mask = _take(rng, free, TIE_SHARE, least=2, keep=keep)
            if mask.any():
                choices = np.asarray(fits) if fits else rng.choice(values[mask], size=2)
                values[mask] = rng.choice(choices[:1] if mask.sum() <= 2 else choices, int(mask.sum()))
        elif kind == "large" and domain in ("any", "positive", "nonzero"):
            mask = _take(rng, free, EDGE_SHARE, keep=keep)
            count = int(mask.sum())
            magnitudes = np.exp(rng.uniform(np.log(LARGE[0]), np.log(LARGE[1]), count))
            values[mask] = magnitudes * (1.0 if domain == "positive" else rng.choice((-1.0, 1.0), count))
    return np.asarray(values, dtype=dtype)


def specials_of(conformance: Any, options: dict[Any, Any]) -> tuple[float, ...]:
    """The values where an op's rule may change: its kinks and the float options of the case (clamp's
    bounds, softplus's threshold); int options are sizes, dims and strides, not values."""
    numeric = [v for v in options.values() if isinstance(v, float) and np.isfinite(v)]
    return tuple(dict.fromkeys([float(k) for k in conformance.kinks] + numeric))


def _number(value: np.ndarray, integral: bool) -> float | int:
    """A Python number from a drawn 0-d value: an int if asked and it stays non-zero when nonzero."""
    number = float(value)
    return round(number) if integral and round(number) != 0 else number


# ----------------------------------------------------------------------------- cases


def metadata(record: Record) -> list[Any]:
    """The op's conformance metadata followed by its variants."""
    return [record.conformance, *record.conformance.variants]  # type: ignore[union-attr]  # a record under test has conformance


@st.composite
def cases(draw: Any, record: Record) -> Case:
    """Test cases for op ``record`` as its conformance metadata (and its variants) describe them."""
    metas = metadata(record)
    conformance = metas[draw(st.integers(0, len(metas) - 1))] if len(metas) > 1 else metas[0]
    dtype = draw(st.sampled_from(DTYPES))
    shapes, options = draw_shapes(draw, record, conformance)
    for name, spec in conformance.options.items():
        if name not in options:
            options[name] = draw_option(draw, spec, shapes)
    if conformance.shapes == "stack" and "dim" not in options:
        options["dim"] = draw_option(draw, "newdim", shapes)
    # About half the cases are plain; the others carry one or more kinds of edge values.
    edges = tuple(kind for kind in EDGE_KINDS if draw(st.integers(0, 3)) == 0)
    dtypes = [dtype] * len(shapes)
    numbers: dict[int, Any] = {}
    if getattr(record, "broadcast", False) and len(shapes) > 1:
        if draw(st.integers(0, 2)) == 0:  # mixed float32 / float64 operands
            index = draw(st.integers(0, len(shapes) - 1))
            if conformance.shapes == "broadcast" and draw(st.booleans()):
                # a float64 0-d tensor among float32 ones: it must not promote them
                dtypes = ["float32"] * len(shapes)
                dtypes[index], shapes[index] = "float64", ()
            else:
                dtypes[index] = DTYPES[1 - DTYPES.index(dtype)]
        if draw(st.integers(0, 3)) == 0:  # one operand a Python number
            numbers[draw(st.integers(0, len(shapes) - 1))] = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    specials = specials_of(conformance, options)
    pool = tuple(rng.uniform(-3.0, 3.0, 2)) if "tie" in edges else ()
    arrays: list[Any] = []
    for i, shape in enumerate(shapes):
        if i in conformance.scalars:
            arrays.append(draw(st.sampled_from(list(conformance.scalars[i]))))
            continue
        domain = domain_of(conformance.domain, i)
        values = draw_values(rng, () if i in numbers else shape, dtypes[i], domain,
                             conformance.kinks, edges, specials, pool)
        arrays.append(_number(values, numbers[i]) if i in numbers else values)
    main = "float32" if "float32" in [d for i, d in enumerate(dtypes) if isinstance(arrays[i], np.ndarray)] \
        else "float64"
    return Case(main, arrays, options, seed, edges, conformance)
