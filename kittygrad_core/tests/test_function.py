"""Custom Functions: the original kittygrad's style, PyTorch's style, and runtime registration."""
import inspect

import numpy as np
import pytest

import kittygrad_core as kitty

pytestmark = pytest.mark.usefixtures("ops")

DATA = np.array([-1.5, 0.5, 2.])


# ----------------------------------------------------------------------------- the original's style


class Cube(kitty.Function):
    """Cubes its input."""

    def forward(self, x):
        self.ctx.saved_tensors.append(x)
        return x * x * x

    def backward(self, grad):
        x, = self.ctx.saved_tensors
        return grad * 3 * x * x


class Inject(kitty.Function):
    """Multiplies x by injection_1, adds injection_2."""

    def forward(self, x, injection_1, injection_2, scale=1.):
        self.ctx.saved_tensors.extend([x, injection_1])
        self.ctx.scale = scale
        return (x * injection_1 + injection_2) * scale

    def backward(self, grad):
        x, injection_1 = self.ctx.saved_tensors
        grad = grad * self.ctx.scale
        return grad * injection_1, grad * x, grad


class ExpOut(kitty.Function, output_version_check=True):
    def forward(self, x):
        return kitty.exp(x)

    def backward(self, grad):
        return grad * self.ctx.out


def torch_cube_grad(torch):
    t = torch.tensor(DATA, requires_grad=True)
    (t ** 3).sum().backward()
    return t.grad.numpy()


def test_original_style_function(torch):
    x = kitty.tensor(DATA, requires_grad=True)
    y = Cube()(x)
    assert f"{y.grad_fn}" == "<CubeBackward>"
    assert y.grad_fn.next_functions == (x._accumulator,)
    assert not y.is_leaf and y.requires_grad
    np.testing.assert_allclose(y.numpy(), DATA ** 3)
    kitty.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), torch_cube_grad(torch))


def test_forward_records_no_graph_inside():
    seen = []

    class Spy(kitty.Function):
        def forward(self, x):
            seen.append(kitty.is_grad_enabled())
            return x * 2

        def backward(self, grad):
            seen.append(kitty.is_grad_enabled())
            return grad * 2

    x = kitty.tensor([1.], requires_grad=True)
    y = Spy()(x)
    assert y.grad_fn.next_functions == (x._accumulator,)  # not the mul node built inside forward
    y.sum().backward()
    assert seen == [False, False]
    assert x.grad.tolist() == [2.]


def test_one_instance_called_twice_keeps_separate_contexts():
    cube = Cube()
    x1 = kitty.tensor([1.], requires_grad=True)
    x2 = kitty.tensor([2.], requires_grad=True)
    y1, y2 = cube(x1), cube(x2)
    y1.sum().backward()
    y2.sum().backward()
    assert x1.grad.tolist() == [3.] and x2.grad.tolist() == [12.]


def test_function_without_inputs_requiring_grad_records_nothing():
    y = Cube()(kitty.tensor([2.]))
    assert y.grad_fn is None and not y.requires_grad and y.tolist() == [8.]


def test_function_under_no_grad_records_nothing():
    with kitty.no_grad():
        y = Cube()(kitty.tensor([2.], requires_grad=True))
    assert y.grad_fn is None


def test_abstract_function_cannot_be_instantiated():
    class NoBackward(kitty.Function):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="abstract"):
        NoBackward()


def test_output_version_check():
    x = kitty.tensor(DATA, requires_grad=True)
    y = ExpOut()(x)
    kitty.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(DATA), rtol=1e-6)

    y = ExpOut()(x)
    y *= 2
    with pytest.raises(RuntimeError, match="(?s)modified by an inplace operation.*ExpOutBackward"):
        kitty.sum(y).backward()


def test_saved_input_version_check():
    x = kitty.tensor(DATA, requires_grad=True)
    base = x * 1
    y = Cube()(base)
    base *= 2
    with pytest.raises(RuntimeError, match="(?s)modified by an inplace operation.*CubeBackward"):
        kitty.sum(y).backward()


def test_kwargs_inputs_are_ordered_by_signature(torch):
    a, b, c = (kitty.tensor(DATA * k, requires_grad=True) for k in (1., 2., 3.))
    out = Inject()(injection_2=c, x=a, scale=0.5, injection_1=b)
    ta, tb, tc = (torch.tensor(DATA * k, requires_grad=True) for k in (1., 2., 3.))
    t_out = (ta * tb + tc) * 0.5
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy())
    kitty.sum(out * out).backward()
    (t_out * t_out).sum().backward()
    for k, t in ((a, ta), (b, tb), (c, tc)):
        np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_inputs_not_requiring_grad_get_no_gradient():
    a, b = kitty.tensor([1.], requires_grad=True), kitty.tensor([2.])
    c = kitty.tensor([3.], requires_grad=True)
    out = Inject()(a, b, injection_2=c)
    assert out.grad_fn.needs_input_grad == (True, False, True)
    out.sum().backward()
    assert a.grad.tolist() == [2.] and b.grad is None and c.grad.tolist() == [1.]


def test_missing_argument_raises():
    a, c = kitty.tensor([1.], requires_grad=True), kitty.tensor([3.])
    with pytest.raises(TypeError, match="missing a required argument: 'injection_1'"):
        Inject()(a, injection_2=c)


@pytest.mark.parametrize("decorator", [kitty.no_grad, kitty.no_grad(), kitty.set_grad_enabled(False)],
                         ids=["bare", "called", "set_grad_enabled"])
def test_no_grad_forward_is_refused_at_class_creation(decorator):
    with pytest.raises(RuntimeError, match="gradient flow permanently disabled"):
        class Frozen(kitty.Function):
            @decorator
            def forward(self, x):
                return x

            def backward(self, grad):
                return grad


def test_no_grad_backward_warns_at_class_creation():
    with pytest.warns(UserWarning, match="no need to explicitly disable gradient flow in the backward"):
        class Redundant(kitty.Function):
            def forward(self, x):
                return x * 2

            @kitty.no_grad
            def backward(self, grad):
                return grad * 2

    x = kitty.tensor([1.], requires_grad=True)
    Redundant()(x).sum().backward()
    assert x.grad.tolist() == [2.]


def test_forward_must_return_a_tensor():
    class Bad(kitty.Function):
        def forward(self, x):
            return x.numpy()

        def backward(self, grad):
            return grad

    with pytest.raises(TypeError, match="must return a Tensor, got ndarray"):
        Bad()(kitty.tensor([1.], requires_grad=True))


def test_identity_forward_gets_an_output_of_its_own():
    class Identity(kitty.Function):
        def forward(self, x):
            return x

        def backward(self, grad):
            return grad

    x = kitty.tensor([1., 2.], requires_grad=True)
    y = Identity()(x)
    assert y is not x and x.is_leaf and not y.is_leaf
    assert np.shares_memory(y.numpy(), x.numpy())
    (y * y).sum().backward()
    assert x.grad.tolist() == [2., 4.]


# ----------------------------------------------------------------------------- PyTorch's style


class TorchCube(kitty.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * 3 * x * x


class Scale(kitty.Function):
    needs = []

    @staticmethod
    def forward(ctx, x, factor, y):
        Scale.needs.append(ctx.needs_input_grad)
        ctx.save_for_backward(x, y)
        ctx.factor = factor
        return x * y * factor

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * ctx.factor, None, grad * x * ctx.factor


def test_torch_style_function(torch):
    x = kitty.tensor(DATA, requires_grad=True)
    y = TorchCube.apply(x)
    assert f"{y.grad_fn}" == "<TorchCubeBackward>"
    kitty.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), torch_cube_grad(torch))


def test_torch_style_non_tensor_arguments_and_needs_input_grad():
    Scale.needs.clear()
    x, y = kitty.tensor([1., 2.], requires_grad=True), kitty.tensor([3., 4.])
    out = Scale.apply(x, 10., y)
    assert Scale.needs == [(True, False, False)]
    assert out.tolist() == [30., 80.]
    out.backward(kitty.tensor([1., 1.]))
    assert x.grad.tolist() == [30., 40.] and y.grad is None


def test_torch_style_saved_tensor_version_check():
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = kitty.tensor([3., 4.])
    out = Scale.apply(x, 2., y)
    y *= 2
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        kitty.sum(out).backward()


def test_apply_on_an_original_style_function():
    x = kitty.tensor([2.], requires_grad=True)
    Cube.apply(x).sum().backward()
    assert x.grad.tolist() == [12.]


def test_node_releases_the_context_after_backward():
    x = kitty.tensor([2.], requires_grad=True)
    y = TorchCube.apply(x)
    node = y.grad_fn
    assert vars(node)
    y.sum().backward()
    assert vars(node) == {}


# ----------------------------------------------------------------------------- runtime registration


@pytest.mark.parametrize("function", [Cube, TorchCube], ids=["original", "torch"])
def test_registered_function_is_bound_and_unregistered(torch, function):
    name = function.__name__.lower()
    kitty.registry.register(function)
    try:
        assert name in kitty.registry
        x = kitty.tensor(DATA, requires_grad=True)
        y = getattr(kitty, name)(x)
        z = getattr(x, name)()
        np.testing.assert_allclose(y.numpy(), DATA ** 3)
        np.testing.assert_allclose(z.numpy(), DATA ** 3)
        kitty.sum(y + z).backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * torch_cube_grad(torch))
    finally:
        kitty.registry.unregister(name)
    assert name not in kitty.registry
    with pytest.raises(AttributeError, match=name):
        getattr(kitty, name)
    with pytest.raises(AttributeError, match=name):
        getattr(kitty.tensor([1.]), name)


def test_registered_function_keeps_options_and_docstring():
    kitty.registry.register(Inject)
    try:
        assert str(inspect.signature(kitty.inject)) == "(x, injection_1, injection_2, scale=1.0)"
        a, b, c = (kitty.tensor([v], requires_grad=True) for v in (1., 2., 3.))
        out = a.inject(b, c, scale=2.)
        assert out.tolist() == [10.]
        out.sum().backward()
        assert (a.grad.tolist(), b.grad.tolist(), c.grad.tolist()) == ([4.], [2.], [2.])
        assert kitty.inject.__doc__ == Inject.__doc__ == "Multiplies x by injection_1, adds injection_2."
    finally:
        kitty.registry.unregister("inject")


def test_registered_function_checks_saved_input_versions():
    kitty.registry.register(Cube)
    try:
        x = kitty.tensor([2.], requires_grad=True)
        base = x * 1
        y = base.cube()
        assert f"{y.grad_fn}" == "<CubeBackward>"
        base *= 2
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    finally:
        kitty.registry.unregister("cube")
