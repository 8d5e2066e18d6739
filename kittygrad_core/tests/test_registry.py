"""The op registry: validation, generated bindings, clashes and overrides, tracing.

Tests that register ops use a fresh ``OpRegistry`` bound to a throwaway module and Tensor subclass, so
nothing leaks into ``kittygrad_core`` itself.
"""
import inspect
import traceback
import types

import numpy as np
import pytest

import kittygrad_core as kitty


class FakeTensor(kitty.Tensor):
    __slots__ = ()


@pytest.fixture
def module():
    return types.ModuleType("fake")


@pytest.fixture
def tensor_type():
    """A fresh Tensor subclass per test, so bindings never outlive the test."""
    return type("FakeTensor", (FakeTensor,), {"__slots__": ()})


@pytest.fixture
def registry(module, tensor_type):
    return kitty.OpRegistry(module, tensor_type)


class Times(kitty.Op):
    """Another multiplication, which wants the same operator as mul."""

    name = "times"
    operators = ("__mul__",)

    def forward(self, xp, input, other):
        return input * other


class SecondMul(kitty.Op):
    """A second op named mul, with its own forward."""

    name = "mul"
    operators = ("__mul__",)
    broadcast = True

    def forward(self, xp, input, other):
        return input * other + 1000


class Scale(kitty.Op):
    """Scales input by factor, optionally adding a bias."""

    name = "scale"
    functions = ("scale", "rescale")
    methods = ("scale",)

    def forward(self, xp, input, factor=2., *, bias=0.):
        self.factor = factor
        return input * factor + bias

    def backward(self, xp, grad):
        return grad * self.factor


# ----------------------------------------------------------------------------- registration


def test_register_binds_functions_methods_and_operators(registry, module, tensor_type, records):
    node = registry.register(records.Mul, plugin="p", distribution="dist-p")
    assert node.__name__ == "MulBackward" and issubclass(node, records.Mul)
    assert (node.plugin, node.distribution, node.input_names) == ("p", "dist-p", ("input", "other"))
    assert "mul" in registry and registry["mul"] is node and len(registry) == 1
    assert registry.names() == ["mul"] and list(registry) == [node] and registry.owner("mul") == "dist-p"
    for binding in (module.mul, tensor_type.mul, tensor_type.__mul__, tensor_type.__rmul__,
                    tensor_type.__imul__, tensor_type.mul_):
        assert binding._kittygrad_op is node
    a, b = tensor_type([2.]), tensor_type([3.])
    assert module.mul(a, b).tolist() == a.mul(b).tolist() == (a * b).tolist() == [6.]
    assert (4 * a).tolist() == [8.]
    a *= b
    assert a.tolist() == [6.] and a.version == 1


def test_a_fresh_registry_leaves_kittygrad_core_alone(registry):
    registry.register(Scale)
    assert not hasattr(kitty, "scale") and not hasattr(kitty.Tensor, "scale")
    assert "scale" not in kitty.registry


def test_owner_falls_back_to_plugin_then_none(registry, records):
    registry.register(records.Mul, plugin="only-plugin")
    registry.register(records.Add)
    assert registry.owner("mul") == "only-plugin" and registry.owner("add") is None


def test_bindings_have_the_ops_docstring_and_signature(registry, module, tensor_type, records):
    registry.register(records.Mul)
    registry.register(Scale)
    assert module.mul.__doc__ == tensor_type.__mul__.__doc__ == records.Mul.__doc__
    assert str(inspect.signature(module.mul)) == "(input, other)"
    assert str(inspect.signature(tensor_type.mul)) == "(self, other)"
    assert str(inspect.signature(tensor_type.__rmul__)) == "(self, input)"
    assert str(inspect.signature(module.scale)) == "(input, factor=2.0, *, bias=0.0)"
    assert str(inspect.signature(tensor_type.scale)) == "(self, factor=2.0, *, bias=0.0)"
    assert module.scale.__name__ == "scale" and module.rescale.__name__ == "rescale"
    assert tensor_type.scale.__qualname__ == "Tensor.scale"
    assert module.scale.__doc__ == Scale.__doc__


def test_bindings_sharing_a_source_keep_their_own_names(registry, module, tensor_type, records):
    # mul and times compile to one text (the compiled code is shared); each keeps its own name, its
    # own file name in tracebacks, and calls its own op
    registry.register(records.Mul)
    registry.register(Times, override=True)
    assert module.mul.__code__.co_filename == "<kittygrad op 'mul' function 'mul'>"
    assert module.times.__code__.co_filename == "<kittygrad op 'times' function 'times'>"
    assert (module.mul.__name__, module.times.__name__) == ("mul", "times")
    assert tensor_type.__mul__.__code__.co_name == "__mul__"
    assert module.mul._kittygrad_op is registry["mul"] and module.times._kittygrad_op is registry["times"]
    with pytest.raises(TypeError) as error:
        module.times(tensor_type([2.]), "text")
    files = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.value.__traceback__)]
    assert "<kittygrad op 'times' function 'times'>" in files, files


def test_bindings_pass_options(registry, module, tensor_type):
    registry.register(Scale)
    x = tensor_type([1., 2.], requires_grad=True)
    assert module.scale(x).tolist() == [2., 4.]
    assert module.rescale(x, 3., bias=1.).tolist() == [4., 7.]
    y = x.scale(factor=5.)
    assert y.tolist() == [5., 10.]
    y.backward(kitty.tensor([1., 1.]))
    assert x.grad.tolist() == [5., 5.]
    with pytest.raises(TypeError):
        module.scale(x, 3., 1.)  # bias is keyword-only


def test_operators_return_not_implemented_for_unsupported_operands(registry, tensor_type, records):
    registry.register(records.Mul)

    class Other:  # a user type: Python gives it the chance to answer (its reflected method)
        def __rmul__(self, tensor):
            return "Other.__rmul__"

    class Plain:
        pass

    t = tensor_type([1., 2.])
    assert t.__mul__(Plain()) is NotImplemented and t.__rmul__(Plain()) is NotImplemented
    assert t * Other() == "Other.__rmul__"
    with pytest.raises(TypeError, match="unsupported operand"):
        t * Plain()
    with pytest.raises(TypeError, match="unsupported operand"):
        Plain() * t
    # a built-in operand can answer nothing: the original kittygrad's TypeError at once
    with pytest.raises(TypeError, match="^Unsupported operand type\\(s\\) for \\*: 'FakeTensor' and 'str'.$"):
        t * "a"
    with pytest.raises(TypeError, match="^Unsupported operand type\\(s\\) for \\*: 'str' and 'FakeTensor'.$"):
        "a" * t
    with pytest.raises(TypeError,
                       match="^Unsupported operand type\\(s\\) for \\*=: 'FakeTensor' and 'complex'.$"):
        t *= 1j
    with pytest.raises(TypeError,
                       match="^Unsupported argument type\\(s\\) for mul: 'Tensor' and 'str'.") as info:
        t.mul("a")
    assert info.value.__notes__ == ["(argument 1 must be a Tensor, a number or a NumPy array)"]


def test_non_broadcast_op_refuses_numbers(registry, module, tensor_type, records):
    registry.register(records.Sum)
    with pytest.raises(TypeError, match=r"(?s)Unsupported argument type\(s\) for sum: 'Tensor' and 'int'.*"
                                        r"argument 0 must be a Tensor or a NumPy array"):
        module.sum(3)
    assert module.sum(np.array([1, 2])).item() == 3.  # integer arrays become float32 tensors


# ----------------------------------------------------------------------------- clashes and overrides


def test_taken_name_raises_naming_both_origins(registry, records):
    registry.register(records.Mul, plugin="first", distribution="dist-first")
    with pytest.raises(RuntimeError, match="op 'mul' from distribution 'dist-second' \\(plugin 'second'\\)"
                                           " clashes with op 'mul' from distribution 'dist-first'"):
        registry.register(SecondMul, plugin="second", distribution="dist-second")
    assert registry["mul"].__bases__ == (records.Mul,)


def test_taken_binding_raises(registry, module, records):
    registry.register(records.Mul)
    with pytest.raises(RuntimeError, match="op 'times' .* wants to bind '__mul__', which op 'mul'"):
        registry.register(Times)
    assert "times" not in registry and not hasattr(module, "times")


def test_override_and_unregister_restores_the_previous_op(registry, module, tensor_type, records):
    first = registry.register(records.Mul, distribution="dist-first")
    second = registry.register(SecondMul, distribution="dist-second", override=True)
    assert registry["mul"] is second and module.mul._kittygrad_op is second
    a = tensor_type([2.])
    assert (a * 3).tolist() == [1006.]
    assert not hasattr(tensor_type, "mul_")  # bindings of the shadowed op are gone too
    assert registry.unregister("mul") is second
    assert registry["mul"] is first and module.mul._kittygrad_op is first
    assert (a * 3).tolist() == [6.] and tensor_type.mul_._kittygrad_op is first
    registry.unregister("mul")
    assert "mul" not in registry and not hasattr(module, "mul")


def test_override_as_a_class_attribute(registry, records):
    registry.register(records.Mul)
    overriding = type("SecondMul", (SecondMul,), {"override": True})
    assert registry.register(overriding).__bases__ == (overriding,)


def test_override_of_a_binding_and_unregister_gives_it_back(registry, tensor_type, records):
    registry.register(records.Mul)
    registry.register(Times, override=True)
    a = tensor_type([2.])
    assert tensor_type.__mul__._kittygrad_op is registry["times"]
    assert tensor_type.mul._kittygrad_op is registry["mul"]
    registry.unregister("times")
    assert tensor_type.__mul__._kittygrad_op is registry["mul"]
    assert (a * 3).tolist() == [6.]


def test_unregister_restores_the_missing_op_stub(registry, tensor_type, records, declared):
    registry.register(records.Mul)
    registry.unregister("mul")
    with pytest.raises(NotImplementedError,
                       match="'__mul__' belongs to op 'mul' of the distribution 'kittygrad-ops'"):
        tensor_type([1.]) * 2
    assert not hasattr(tensor_type([1.]), "mul")


def test_unregister_unknown_raises(registry):
    with pytest.raises(KeyError, match="no op named 'nope'"):
        registry.unregister("nope")


# ----------------------------------------------------------------------------- validation


def test_register_refuses_what_is_not_an_op(registry, records):
    with pytest.raises(TypeError, match="expected an Op"):
        registry.register(object)
    with pytest.raises(TypeError, match="expected an Op"):
        registry.register(records.Mul())


def test_register_requires_an_identifier_name(registry, records):
    for name in (None, "two words", 3):
        bad = type("Bad", (records.Mul,), {"name": name})
        with pytest.raises(TypeError, match="must set `name` to an identifier"):
            registry.register(bad)


def test_register_requires_forward_with_xp_and_an_input(registry):
    class NoXp(kitty.Op):
        name = "no_xp"

        def forward(self, input):
            return input

    class NoInput(kitty.Op):
        name = "no_input"

        def forward(self, xp):
            return xp.zeros(1)

    for bad in (NoXp, NoInput):
        with pytest.raises(TypeError, match="forward must be defined as forward\\(self, xp"):
            registry.register(bad)


def test_reflected_operator_needs_two_inputs(registry):
    class Neg(kitty.Op):
        name = "negation"
        reflected = ("__rsub__",)

        def forward(self, xp, input):
            return -input

    with pytest.raises(TypeError, match="reflected operator needs exactly two inputs"):
        registry.register(Neg)


def test_differentiable_needs_one_entry_per_input(registry, records):
    bad = type("BadMul", (records.Mul,), {"name": "bad_mul", "operators": (), "reflected": (),
                                          "inplace": (), "differentiable": (True,)})
    with pytest.raises(TypeError, match="differentiable has 1 entries for 2 inputs"):
        registry.register(bad)


def test_partially_differentiable_op(registry, module):
    class Where(kitty.Op):
        """Keeps input where mask is positive."""

        name = "keep"
        differentiable = (True, False)
        saves = (1,)

        def forward(self, xp, input, mask):
            self.mask = mask > 0
            return xp.where(self.mask, input, 0.)

        def backward(self, xp, grad):
            return xp.where(self.mask, grad, 0.), None

    registry.register(Where)
    x = kitty.tensor([1., 2.], requires_grad=True)
    m = kitty.tensor([1., -1.], requires_grad=True)
    y = module.keep(x, m)
    assert y.grad_fn.next_functions[1] is None
    y.backward(kitty.tensor([1., 1.]))
    assert x.grad.tolist() == [1., 0.] and m.grad is None


def test_non_differentiable_op_records_nothing(registry, module):
    class Sign(kitty.Op):
        name = "sign"
        differentiable = False

        def forward(self, xp, input):
            return xp.sign(input)

    registry.register(Sign)
    y = module.sign(kitty.tensor([-2., 3.], requires_grad=True))
    assert y.grad_fn is None and not y.requires_grad and y.tolist() == [-1., 1.]


def test_forward_errors_become_runtime_errors_naming_the_op(registry, module):
    class Reshape(kitty.Op):
        name = "reshape3"

        def forward(self, xp, input):
            return input.reshape(3)

    registry.register(Reshape)
    with pytest.raises(RuntimeError, match=r"reshape3\(\): cannot reshape .*input shapes \(2,\)"):
        module.reshape3(kitty.tensor([1., 2.]))


# ----------------------------------------------------------------------------- tracing


def test_start_tracing_reports_ops_and_stop_tracing_stops(ops):
    calls = []

    def tracer(op, inputs, output):
        calls.append((op.name, inputs, output))

    x = kitty.tensor([1., 2.], requires_grad=True)
    kitty.start_tracing(tracer)
    try:
        y = x * 2
        y *= 3
        kitty.exp(y)
    finally:
        kitty.stop_tracing(tracer)
    assert [name for name, _, _ in calls] == ["mul", "mul", "exp"]
    assert calls[0][1] == (x, 2) and calls[0][2] is y and calls[1][2] is y
    assert calls[2][2].grad_fn.name == "exp"
    x * 2
    assert len(calls) == 3
    with pytest.raises(ValueError):
        kitty.stop_tracing(tracer)


def test_tracing_without_a_tracer_calls_the_kittygrad_trace_op_hook(ops):
    seen = []

    class TracePlugin:
        @kitty.hookimpl
        def kittygrad_trace_op(self, op, inputs, output):
            seen.append((op.name, output.shape))

    plugin = TracePlugin()
    kitty.plugins.manager.register(plugin)
    try:
        kitty.start_tracing()
        try:
            kitty.tensor([1., 2.]) + 1
        finally:
            kitty.stop_tracing()
    finally:
        kitty.plugins.manager.unregister(plugin)
    assert seen == [("add", (2,))]


def test_registry_call_reaches_ops_without_bindings(ops):
    class Hidden(kitty.Op):
        """hidden(input, scale=2.0) -> Tensor

        Scales its input; registered without functions or methods."""

        name = "hidden"
        functions = methods = ()

        def forward(self, xp, input, scale=2.0):
            self.scale = scale
            return input * scale

        def backward(self, xp, grad):
            return grad * self.scale

    kitty.registry.register(Hidden)
    try:
        assert not hasattr(kitty, "hidden")
        x = kitty.tensor([1.0, 2.0], requires_grad=True)
        y = kitty.registry.call("hidden", x, scale=3.0)
        assert y.tolist() == [3.0, 6.0] and f"{y.grad_fn}" == "<HiddenBackward>"
    finally:
        kitty.registry.unregister("hidden")


def test_markdown_reference_lists_ops_with_bindings_and_owner(ops):
    from kittygrad_core.__main__ import markdown
    table = markdown(kitty.registry)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert "`mul`" in rows and "`__mul__`" in rows["`mul`"] and "`kitty.mul`" in rows["`mul`"]
    assert markdown(kitty.registry, "no-such-distribution").count("\n") == 1  # the header only


# ------------------------------------------------------------------ saved state derived from __slots__


def _registered(registry, name, slots, body="", **attributes):
    """Registers ``a * b`` whose forward saves into ``slots`` (forward's inputs are ``a`` and ``b``)."""
    namespace = {"name": name, "__slots__": slots, **attributes}
    exec("def forward(self, xp, a, b, scale=1.0):\n"
         "    for slot in self.__slots__:\n"
         "        setattr(self, slot, {'a': a, 'b': b, 'out': a * b}.get(slot, scale))\n"
         "    return a * b\n"
         "def backward(self, xp, grad):\n"
         "    return grad, grad\n", namespace)
    return registry.register(type(name.capitalize(), (kitty.Op,), namespace))


@pytest.mark.parametrize("slots, saves, saves_output", [
    ((), (), False),                      # nothing saved, nothing checked
    (("a",), (0,), False),                # a slot named after an input: that input is checked
    (("b", "a"), (0, 1), False),          # indices in input order, whatever the slots' order
    (("out",), (), True),                 # `out`: the output is checked
    (("a", "out", "scale"), (0,), True),  # an option's name is state, not an input
    (("first", "axes"), (), False),       # slots that name no input: state only (a misnamed slot
])                                        # goes unchecked; test_saves catches the backward's read)
def test_saves_are_derived_from_the_slots(registry, slots, saves, saves_output):
    node = _registered(registry, "derived", slots)
    assert (node.saves, node.saves_output) == (saves, saves_output)
    assert node.snapshots == bool(saves or saves_output)
    assert node.saved_slots == slots
    assert not hasattr(node(), "__dict__")  # declared slots: no per-call __dict__


def test_explicit_saves_win_over_the_derivation(registry):
    node = _registered(registry, "explicit", ("a", "b", "out"), saves={0: (1,), 1: (0,)}, saves_output=(1,))
    assert node.saves_for == {0: (1,), 1: (0,)}  # the mapping form: each read for the other's gradient
    assert node.save_plan == ((0, False, True), (1, True, False))
    assert node.saves_output == (1,)
    node = _registered(registry, "nothing", ("a", "out"), saves=(), saves_output=False)
    assert (node.saves, node.saves_output, node.snapshots) == ((), False, False)


def test_saves_are_derived_along_the_record_bases(registry):
    base = type("Base", (kitty.Op,), {"__slots__": ("b",)})
    namespace = {"name": "child", "__slots__": ("out",)}
    exec("def forward(self, xp, a, b):\n    self.b, self.out = b, a + b\n    return self.out\n", namespace)
    node = registry.register(type("Child", (base,), namespace))
    assert (node.saves, node.saves_output, node.saved_slots) == ((1,), True, ("out", "b"))


def test_derived_saves_check_versions(registry, module):
    _registered(registry, "checked", ("a",))
    a = kitty.tensor([1.0, 2.0], requires_grad=True)
    b = kitty.tensor([3.0, 4.0], requires_grad=True)
    ones = kitty.tensor([1.0, 1.0])
    module.checked(a, b).backward(ones)  # unmodified: fine
    out = module.checked(a, b)
    kitty.extend.write_(b, b.numpy())  # not saved: backward may go through
    out.backward(ones)
    out = module.checked(a, b)
    kitty.extend.write_(a, a.numpy())
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward(ones)


def test_a_variadic_input_is_never_derived(registry):
    namespace = {"name": "joined", "__slots__": ("tensors",)}
    exec("def forward(self, xp, *tensors):\n    self.tensors = tensors\n    return tensors[0]\n", namespace)
    node = registry.register(type("Joined", (kitty.Op,), namespace))
    assert (node.saves, node.saves_output) == ((), False)
