"""The autograd API against torch: retain_graph, inputs=, autograd.grad/backward, tensor hooks."""
import warnings

import numpy as np
import pytest
import torch

import kittygrad as kitty

DATA = [0.5, -1.0, 2.0]


def both(fn):
    """Runs ``fn(lib, tensor)`` for kittygrad and torch (float64 leaves) and returns both results."""
    return (fn(kitty, lambda d, **kw: kitty.tensor(d, dtype=kitty.float64, **kw)),
            fn(torch, lambda d, **kw: torch.tensor(d, dtype=torch.float64, **kw)))


def same(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(np.asarray(a.detach().numpy() if hasattr(a, "detach") else a),
                               b.detach().numpy(), rtol=1e-12)


def test_retain_graph_gives_the_same_gradients_twice():
    def program(lib, t):
        x = t(DATA, requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward()
        return first, x.grad

    (k1, k2), (t1, t2) = both(program)
    same(k1, t1)
    same(k2, t2)
    np.testing.assert_allclose(k2.numpy(), 2 * k1.numpy())


def test_without_retain_graph_a_second_backward_raises_saying_how():
    x = kitty.tensor(DATA, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert str(info.value) == "Trying to backward through the graph a second time."
    assert "retain_graph=True" in info.value.__notes__[0]


def test_a_retained_pass_then_a_consuming_pass_then_nothing():
    x = kitty.tensor(DATA, requires_grad=True)
    y = (x * 3).exp().sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_autograd_grad_returns_gradients_of_leaves_and_non_leaves_without_touching_leaf_grads():
    def program(lib, t):
        x = t(DATA, requires_grad=True)
        a = x * 2
        a.retain_grad()
        c = (a.exp() * a).sum()
        gx, ga = lib.autograd.grad(c, [x, a])
        return gx, ga, x.grad, a.grad

    (kx, ka, kxg, kag), (tx, ta, txg, tag) = both(program)
    same(kx, tx)
    same(ka, ta)
    assert kxg is None and txg is None
    same(kag, tag)  # a retained gradient is filled whenever its node runs, as torch does


def test_autograd_grad_with_grad_outputs_and_several_outputs():
    def program(lib, t):
        x = t(DATA, requires_grad=True)
        y, z = x * x, x.sin()
        return lib.autograd.grad([y, z], x, grad_outputs=[t([1., 2., 3.]), t([0.5, 0.5, 0.5])])[0]

    same(*both(program))


def test_unused_inputs_raise_unless_allowed_or_materialized():
    def program(lib, t, **options):
        x, w = t(DATA, requires_grad=True), t(DATA, requires_grad=True)
        return lib.autograd.grad((x * 2).sum(), [x, w], **options)

    for lib, t in ((kitty, lambda d, **kw: kitty.tensor(d, **kw)),
                   (torch, lambda d, **kw: torch.tensor(d, **kw))):
        with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
            program(lib, t)
        assert program(lib, t, allow_unused=True)[1] is None
        assert program(lib, t, materialize_grads=True)[1].tolist() == [0., 0., 0.]


def test_backward_inputs_fills_only_those_grads_non_leaves_included():
    def program(lib, t):
        x, w = t(DATA, requires_grad=True), t(DATA, requires_grad=True)
        h = x * w
        (h.exp().sum()).backward(inputs=[w, h])
        return x.grad, w.grad, h.grad

    (kx, kw, kh), (tx, tw, th) = both(program)
    assert kx is None and tx is None
    same(kw, tw)
    same(kh, th)


def test_autograd_backward_of_several_outputs_sharing_a_graph():
    def program(lib, t):
        x = t(DATA, requires_grad=True)
        h = x.exp()
        lib.autograd.backward([(h * 2).sum(), (h * h).sum()])
        return x.grad

    same(*both(program))


def test_the_general_pass_keeps_the_lock_diagnostics():
    x = kitty.tensor(DATA, requires_grad=True)
    h = x * 2
    a, b = h * 3, h * 4
    with pytest.warns(UserWarning, match="Backpropagation not completed"):
        a.sum().backward(retain_graph=True)
    assert x.grad is None  # h still waits for b's gradient
    b.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 14.))
    y = x * 5
    z = y * 1
    with pytest.warns(UserWarning, match="middle of the computational graph"):
        y.backward(kitty.ones_like(y), retain_graph=True)  # z consumes y: a backward from the middle
    del z


def test_create_graph_gives_torch_second_derivatives():
    def program(lib, x):
        y = (lib.exp(x) * x - x ** 3 / (x * x + 1)).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()
        return g, x.grad

    ours = program(kitty, kitty.tensor(DATA, requires_grad=True))
    theirs = program(torch, torch.tensor(DATA, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ hooks


@pytest.mark.parametrize("how", ["backward", "retain", "grad"])
def test_a_leaf_hook_runs_once_on_the_summed_gradient(how):
    # x reaches the output along three paths; torch's AccumulateGrad runs its hooks once, on the sum
    def program(lib, x):
        calls = []
        x.register_hook(lambda g: calls.append(1) or g * g)
        y = (x * x * x + x).sum()
        if how == "grad":
            return lib.autograd.grad(y, x)[0], len(calls)
        y.backward(retain_graph=how == "retain")
        return x.grad, len(calls)

    ours = program(kitty, kitty.tensor(DATA, requires_grad=True))
    theirs = program(torch, torch.tensor(DATA, requires_grad=True))
    np.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy(), rtol=1e-6)
    assert ours[1] == theirs[1] == 1


def test_tensor_hooks_order_replacement_and_removal_match_torch():
    def program(lib, t):
        log = []
        x = t(DATA, requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: log.append(("y1", g.tolist())))
        y.register_hook(lambda g: g * 10)
        y.register_hook(lambda g: log.append(("y3", g.tolist())))
        removed = x.register_hook(lambda g: log.append(("never", 0)))
        x.register_hook(lambda g: (log.append(("x", g.tolist())), g + 1)[1])
        x.register_post_accumulate_grad_hook(lambda leaf: log.append(("post", leaf.grad.tolist())))
        removed.remove()
        (y * y).sum().backward()
        return log, x.grad, y.grad

    (klog, kx, ky), (tlog, tx, ty) = both(program)
    assert klog == tlog
    same(kx, tx)
    same(ky, ty)


def test_hooks_run_in_autograd_grad_and_accumulate_nothing():
    seen = []
    x = kitty.tensor(DATA, requires_grad=True)
    x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    x.register_post_accumulate_grad_hook(lambda leaf: seen.append("post"))
    (g,) = kitty.autograd.grad((x * 3).sum(), x)
    assert g.tolist() == [6., 6., 6.] and seen == [[3., 3., 3.]] and x.grad is None


def test_hook_errors_are_typed():
    x = kitty.tensor(DATA, requires_grad=True)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        kitty.tensor(DATA).register_hook(print)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)
    x.register_hook(lambda g: kitty.ones(2))
    with pytest.raises(RuntimeError, match="expected None or a Tensor of shape \\(3,\\)"):
        (x * 1).sum().backward()


# ------------------------------------------------------------------------------------------- grad mode


def test_inference_mode_and_set_grad_enabled():
    x = kitty.tensor(DATA, requires_grad=True)
    with kitty.inference_mode():
        assert not (x * 2).requires_grad
    with kitty.inference_mode(False):
        assert (x * 2).requires_grad

    @kitty.inference_mode()
    def f():
        return x * 2

    assert not f().requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with kitty.no_grad():
            with kitty.inference_mode():  # no "no_grad more then once" warning: a different manager
                pass
    with kitty.set_grad_enabled(False):
        assert not kitty.is_grad_enabled()
        with kitty.enable_grad():
            assert (x * 2).requires_grad
    assert kitty.is_grad_enabled()


# ------------------------------------------------------------------------- functional, gradcheck, anomaly

from kittygrad.autograd import functional as F  # noqa: E402


def _pair(lib):
    x = lib.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, -0.6]], dtype=lib.float64)
    w = lib.tensor([1.0, 2.0], dtype=lib.float64)
    return x, w


def _f(x, w):
    return (x * w).exp().sum(0), (x.sin() * 3).sum()


def test_jacobian_vjp_jvp_match_torch_for_tuple_inputs_and_outputs():
    kx, kw = _pair(kitty)
    tx, tw = _pair(torch)
    kj, tj = F.jacobian(_f, (kx, kw)), torch.autograd.functional.jacobian(_f, (tx, tw))
    for krow, trow in zip(kj, tj):
        for k, t in zip(krow, trow):
            same(k, t)
    v = (kitty.tensor([1., -2.], dtype=kitty.float64), kitty.tensor(0.5, dtype=kitty.float64))
    tv = tuple(torch.tensor(a.numpy()) for a in v)
    for k, t in zip(F.vjp(_f, (kx, kw), v)[1], torch.autograd.functional.vjp(_f, (tx, tw), tv)[1]):
        same(k, t)
    u = (kitty.ones(3, 2, dtype=kitty.float64), kitty.tensor([0.5, 0.25], dtype=kitty.float64))
    tu = tuple(torch.tensor(a.numpy()) for a in u)
    for k, t in zip(F.jvp(_f, (kx, kw), u)[1], torch.autograd.functional.jvp(_f, (tx, tw), tu)[1]):
        same(k, t)


def test_jacobian_of_a_single_tensor_and_strict_mode():
    x = kitty.tensor([1., 2., 3.], dtype=kitty.float64)
    jac = F.jacobian(lambda t: t * t, x)
    np.testing.assert_array_equal(jac.numpy(), np.diag([2., 4., 6.]))
    with pytest.raises(RuntimeError, match="independent of input 0"):
        F.jacobian(lambda t: kitty.ones(2), x, strict=True)
    np.testing.assert_array_equal(F.jacobian(lambda t: kitty.ones(2), x).numpy(), np.zeros((2, 3)))
    # create_graph=True: the same values, recorded (x does not require grad: no history to it)
    recorded = F.jacobian(lambda t: t * t, x, create_graph=True)
    np.testing.assert_array_equal(recorded.numpy(), np.diag([2., 4., 6.]))


def test_gradcheck_passes_correct_rules_and_catches_a_wrong_one():
    x = kitty.tensor([0.3, -0.7, 1.2], dtype=kitty.float64, requires_grad=True)
    assert kitty.autograd.gradcheck(lambda t: (t.tanh() * t).sum(), (x,))

    class WrongCube(kitty.Function):
        def forward(self, t):
            self.ctx.saved_tensors.append(t)
            return t ** 3

        def backward(self, grad):
            return 2 * self.ctx.saved_tensors[0] ** 2 * grad  # should be 3 x^2

    with pytest.raises(kitty.autograd.GradcheckError, match="Jacobian mismatch for output 0"):
        kitty.autograd.gradcheck(lambda t: WrongCube()(t), (x,))
    assert kitty.autograd.gradcheck(lambda t: WrongCube()(t), (x,), raise_exception=False) is False
    with pytest.raises(kitty.autograd.GradcheckError, match="float64"):
        kitty.autograd.gradcheck(lambda t: t * 2, (kitty.ones(2, requires_grad=True),))


def test_detect_anomaly_names_the_op_and_where_it_was_recorded():
    x = kitty.tensor([0., 1.], requires_grad=True)
    with kitty.autograd.detect_anomaly():
        y = x.sqrt()  # the line the note must show
        with pytest.raises(RuntimeError,
                           match="^Function 'SqrtBackward' returned nan values in its 0th output.") as info:
            (y * 0).sum().backward()
    assert "y = x.sqrt()" in info.value.__notes__[0] and "op 'sqrt'" in info.value.__notes__[0]
    (x.sqrt() * 0).sum().backward()  # outside the block: no check, as torch
    assert np.isnan(x.grad.numpy()[0])
    with kitty.autograd.set_detect_anomaly(True):
        z = x.sqrt()
        with pytest.raises(RuntimeError, match="returned nan values"):
            (z * 0).sum().backward()
    assert not kittygrad_core_tracers()


def kittygrad_core_tracers():
    import kittygrad_core
    return kittygrad_core._tracing.active_tracers()


# ------------------------------------------------------- the fast pass and the general pass agree


def _broken(kind):
    class Broken(kitty.Function):
        def forward(self, x):
            self.ctx.saved_tensors.append(x)
            return x * 2

        def backward(self, grad):
            if kind == "count":
                return grad, grad
            if kind == "string":
                return "no gradient"
            if kind == "shape":
                return kitty.ones(5)
            if kind == "raises":
                raise ValueError("inside the rule")
            return grad * 2

    return Broken


@pytest.mark.parametrize("kind", ["count", "string", "shape", "raises", "modified"])
def test_a_plain_backward_and_a_retained_one_report_the_same_errors(kind):
    # _engine._run inlines check_versions and call_rule, which the general pass calls
    def error_of(**options):
        x = kitty.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = _broken(kind)()(h)
        if kind == "modified":
            h.add_(1)
        with pytest.raises(Exception) as info:
            y.sum().backward(**options)
        return type(info.value), str(info.value), getattr(info.value, "__notes__", None)

    assert error_of() == error_of(retain_graph=True)


def test_a_plain_backward_and_a_retained_one_give_the_same_gradients():
    results = []
    for options in ({}, {"retain_graph": True}):
        x = kitty.tensor([0.5, -1.0, 2.0], requires_grad=True)
        h = x.exp()
        h.retain_grad()
        ((h * x).sum() + h.sin().sum()).backward(**options)
        results.append((x.grad.tolist(), h.grad.tolist()))
    assert results[0] == results[1]


@pytest.mark.parametrize("retain_graph, create_graph", [(1, False), (0, False), (None, 0), (np.int64(1), False)])
def test_backward_reads_retain_graph_and_create_graph_as_integers_as_torch(retain_graph, create_graph):
    for lib in (kitty, torch):
        x = lib.tensor(DATA, requires_grad=True)
        y = (x * x).sum()
        y.backward(None, retain_graph, create_graph)
        if retain_graph:
            y.backward()  # the graph was kept
    with pytest.raises(TypeError, match="retain_graph must be a bool or None"):
        (kitty.tensor(DATA, requires_grad=True) * 2).sum().backward(None, "yes")
    for lib in (kitty, torch):  # torch reads them as unsigned bytes
        with pytest.raises(OverflowError):
            (lib.tensor(DATA, requires_grad=True) * 2).sum().backward(None, -1, False)
