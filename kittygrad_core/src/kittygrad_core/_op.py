"""The op record: everything about one op in one class."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._engine import Node


@dataclass(frozen=True)
class Conformance:
    """Test metadata of an op: how the conformance suite checks it against PyTorch.

    Args:
        torch: the reference, as a dotted name under ``torch`` (``"torch.mul"``, ``"Tensor.std"``,
            ``"nn.functional.gelu"``) or a callable ``f(torch, *inputs, **options)``.
        domain: where input values are drawn from, for all inputs or one entry per input: ``"any"``
            (-3, 3), ``"positive"`` (0.1, 3), ``"nonzero"``, ``"unit"`` (-0.9, 0.9) or ``(low, high)``.
            Edge cases add exact zeros and ties inside the domain, and for ``"any"``, ``"positive"``
            and ``"nonzero"`` magnitudes up to 100.
        shapes: how input shapes relate: ``"broadcast"`` (mutually broadcastable, 0-d and size-1 dims
            included), ``"same"``, ``"matmul"`` (every matmul case), ``"dot"``, ``"mm"``, ``"mv"``,
            ``"bmm"``, ``"outer"``, ``"cat"`` (equal but along ``dim``), ``"stack"``, or a callable
            ``f(draw) -> list of shapes`` (``draw`` is hypothesis's).
        inputs: how many tensor inputs to generate (default: the op's declared inputs; required for
            ``*inputs`` ops and composites).
        options: for each option, a list of values to choose from, one of the strings ``"dim"`` (a
            valid dim of the first input), ``"dims"`` (``None``, an int or a tuple of distinct dims),
            ``"newdim"`` (a valid insertion dim, as for ``unsqueeze``), ``"bool"``, or a callable
            ``f(draw, shapes) -> value``.
        rtol, atol: tolerances of the float32 comparison with torch (float64 uses 1e-7 / 1e-9).
        empty: whether the op accepts empty tensors.
        kinks: input values where the op is not differentiable. Plain cases keep 0.01 away from them;
            edge cases put values exactly on them (and on numeric option values such as clamp's
            bounds), where the gradient is compared with torch's subgradient but not with finite
            differences.
        call: how to call the kittygrad op, ``f(kitty, *inputs, **options)``; by default its first
            module function, else its first method.
        fd: whether float64 gradients are also checked against central finite differences.
        scalars: inputs passed as Python numbers, by index, each drawn from its list (``pow``'s
            exponent: ``{1: [0, 1, 2, 0.5, -1]}``).
        variants: further metadata checked as well, sharing the op's examples (``pow`` with a number
            exponent and negative bases beside ``pow`` of two tensors).
    """

    torch: str | Callable[..., Any]
    domain: str | tuple[Any, ...] = "any"
    shapes: str | Callable[..., Any] = "broadcast"
    inputs: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-4
    atol: float = 1e-5
    empty: bool = True
    kinks: tuple[float, ...] = ()
    call: Callable[..., Any] | None = None
    fd: bool = True
    scalars: dict[int, Any] = field(default_factory=dict)
    variants: tuple[Conformance, ...] = ()


class Op(Node):
    """Base class of an op record: forward, backward rule, bindings and test metadata together.

    A subclass names the op after PyTorch (``name = "mul"``) and defines:

    * ``forward(self, xp, *inputs, **options)``: computes the output array from input arrays with
      the array namespace ``xp`` (NumPy); anything ``backward`` needs is saved on ``self``.
    * ``backward(self, xp, grad)``: returns one gradient per input (``None`` where no gradient flows;
      ``self.needs_input_grad[i]`` says which are wanted). A single-input op may return a bare array.

    The forward's positional parameters without defaults are the tensor inputs (or the first
    ``n_inputs`` parameters, when an op also takes required non-tensor arguments); the others become the
    options of the bound functions, with the same names, defaults and keyword-only markers.
    Class attributes say how the op is bound and handled:

    * ``functions``, ``methods``: names of module functions and ``Tensor`` methods (default: ``name``);
      ``operators`` / ``reflected``: dunders such as ``__mul__`` / ``__rmul__``; ``inplace``: in-place
      bindings such as ``__imul__`` and ``mul_``.
    * ``broadcast``: elementwise over broadcast inputs: numbers and arrays are accepted as operands,
      dtypes promote as in torch, and gradients are reduced back to each input's shape and dtype.
    * ``view``: the output shares memory and version counter with the first input.
    * ``differentiable``: ``False`` for ops without gradients, or one bool per input.
    * ``__slots__``: what ``forward`` saves for ``backward``, declared once. A slot named after a tensor
      input must hold that input's array (the operand as received, a number for a number operand), and
      a slot named ``out`` the output array; registration derives from them which versions to check
      before ``backward`` runs (``saves``: the inputs' indices; ``saves_output``: ``out`` is a slot).
      Other slots (``axes``, ``mask``, a cast or derived copy of an input: name it differently) are
      state, released after ``backward`` like the rest. Declare ``__slots__ = ()`` when nothing is saved.
    * ``saves``, ``saves_output``: opt-in refinements of the derived ones. ``saves`` may map a saved
      input to the inputs whose gradients read it (``mul``: ``{0: (1,), 1: (0,)}``: ``x * 2`` then
      checks nothing, so ``x`` may change in place afterwards, as in torch); ``saves_output`` may be a
      tuple of the inputs whose gradients read the output (``pow``: ``(1,)``: only the exponent's
      gradient does, so ``x ** 2`` leaves its output free to change in place, as torch's pow does).
    * ``weak_0d``: in dtype promotion a 0-d tensor gives way to dimensioned ones (torch's rule for
      elementwise ops); ``False`` promotes all inputs alike (torch's losses broadcast first).
    * ``writes_input``: an in-place form's forward writes into its first input's buffer itself
      (``__setitem__``) instead of returning a new array; the version is then bumped before it runs.
    * ``differentiable_backward``: ``backward`` records a graph when ``xp`` is the recording namespace
      of a ``create_graph=True`` pass (it computes only with ``xp`` and the operators of the values it
      reads, and its saved state that depends on an input is named after that input, or ``out``), so
      second derivatives flow through it. Declare it once the conformance suite checks the op's
      double backward against torch; without it, differentiating such a gradient again raises. For an
      op taking ``*inputs``, a slot named after that parameter holding one array per input reads, under
      ``create_graph``, as those inputs (``_einsum``'s ``operands``).
    * ``fresh_grads`` (default True): the arrays ``backward`` returns are not kept anywhere but on
      ``self`` (released once it ran), so the engine may make one a leaf's ``.grad`` without copying it
      (it still copies the incoming gradient passed on, views, and an array given to two inputs).
      Set it to False if a rule returns arrays it also keeps elsewhere (a cache, a global).
    * ``override``: replace an op of the same name registered by someone else.
    * ``conformance``: a :class:`Conformance`; an op without one fails the conformance suite.

    ``plugin`` and ``distribution`` are filled in by the registry.
    """

    # A record declares ``__slots__`` naming what forward saves: it then allocates no __dict__.
    # Nodes stay weakly referenceable (as torch's grad_fn), whatever their records declare.
    __slots__ = ("__weakref__",)

    name: ClassVar[str]
    functions: ClassVar[tuple[str, ...] | None] = None
    methods: ClassVar[tuple[str, ...] | None] = None
    operators: ClassVar[tuple[str, ...]] = ()
    reflected: ClassVar[tuple[str, ...]] = ()
    inplace: ClassVar[tuple[str, ...]] = ()
    broadcast: ClassVar[bool] = False
    view: ClassVar[bool] = False
    differentiable: ClassVar[bool | tuple[bool, ...]] = True
    saves: ClassVar[tuple[int, ...] | dict[int, tuple[int, ...]]] = ()
    saves_output: ClassVar[bool | tuple[int, ...]] = False
    writes_input: ClassVar[bool] = False
    differentiable_backward: ClassVar[bool] = False
    weak_0d: ClassVar[bool] = True
    override: ClassVar[bool] = False
    conformance: ClassVar[Conformance | None] = None
    plugin: ClassVar[str | None] = None
    distribution: ClassVar[str | None] = None

    #: Set by the registry: whether the op snapshots versions (``saves`` or ``saves_output``).
    snapshots: ClassVar[bool] = False
    #: Set by the registry when ``saves`` is a mapping: which inputs' gradients read each saved input.
    saves_for: ClassVar[dict[int, tuple[int, ...]] | None] = None
    save_plan: ClassVar[tuple[tuple[int, bool, bool], ...]] = ()
    #: Set by the registry when forward takes ``*inputs``: bindings then take one sequence of tensors.
    variadic: ClassVar[bool] = False
    #: How many leading forward parameters are tensor inputs; by default, those without defaults.
    n_inputs: ClassVar[int | None] = None
    # Filled in by the registry from the forward's signature.
    input_names: ClassVar[tuple[str, ...]] = ()

    def forward(self, xp: Any, *inputs: np.ndarray, **options: Any) -> np.ndarray:
        """Computes the output from the input arrays."""
        raise NotImplementedError

    def backward(self, xp: Any, grad: np.ndarray) -> Any:
        """Returns one gradient (or ``None``) per input, given the gradient of the output."""
        raise RuntimeError(f"op '{self.name}' is not differentiable")

    #: An op's record is released right after its rule ran, so nothing it saved still holds what the
    #: rule returned: the engine may hand a fresh returned array to a leaf without copying it.
    fresh_grads: ClassVar[bool] = True

    #: Set by the registry: the ``__slots__`` names of the record, released after backward.
    saved_slots: ClassVar[tuple[str, ...]] = ()

    def _release(self) -> None:
        for name in self.saved_slots:
            try:
                delattr(self, name)
            except AttributeError:
                pass
        state = getattr(self, "__dict__", None)
        if state:
            state.clear()
