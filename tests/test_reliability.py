"""Reliability of the whole set: threads, interruption, reference-counted memory, per-context tracing."""
import gc
import random
import signal
import threading
import weakref

import numpy as np
import pytest
import torch

import kittygrad as kitty
import kittygrad_core

# ----------------------------------------------------------------------------- threads


def test_threads_backpropagating_into_a_shared_leaf_lose_no_contribution():
    # integer-valued float64 data: every sum is exact, so any lost update shows as a difference
    rng = np.random.default_rng(0)
    w = kitty.tensor(rng.integers(-3, 4, size=(512, 512)).astype(np.float64), requires_grad=True)
    scales = [kitty.tensor(rng.integers(-3, 4, size=(512, 512)).astype(np.float64)) for _ in range(8)]
    expected = sum(s.numpy() for s in scales)
    for _ in range(40):
        w.grad = None
        barrier = threading.Barrier(len(scales))
        errors = []

        def work(c, barrier=barrier, errors=errors):  # this iteration's, joined below
            try:
                loss = (w * c).sum()
                barrier.wait()
                loss.backward()
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(c,)) for c in scales]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        np.testing.assert_array_equal(w.grad.numpy(), expected)


@pytest.mark.filterwarnings("ignore:Backpropagation not completed")  # each thread's backward but the last
def test_threads_backpropagating_through_a_shared_non_leaf_and_its_retained_grad():
    x = kitty.tensor(np.arange(1., 5.), dtype=kitty.float64, requires_grad=True)
    for _ in range(10):
        x.grad = None
        h = x * 1.
        h.retain_grad()
        outs = [(h * float(k)).sum() for k in range(1, 9)]
        threads = [threading.Thread(target=o.backward) for o in outs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        np.testing.assert_array_equal(x.grad.numpy(), np.full(4, 36.))
        np.testing.assert_array_equal(h.grad.numpy(), np.full(4, 36.))


# ----------------------------------------------------------------------------- interruption


def _interrupted_trials(program, trials, seed):
    """Runs ``program(check)`` under a timer that interrupts it at a random moment, ``trials`` times."""
    rng = random.Random(seed)

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    interrupted = 0
    try:
        for _ in range(trials):
            state = program.setup()
            try:
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-6, 4e-4))
                program.run(state)
                signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                interrupted += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
            program.check(state)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return interrupted


class InPlaceChain:
    """A graph grown by in-place ops on a tensor and on views of it, checked after each interruption."""

    # ops whose backward survives the next in-place op (pow_ saves a copy of its input, as torch),
    # with values that stay bounded over any number of steps
    OPS = [("mul_", 0.5), ("add_", 0.25), ("pow_", 2.), ("div_", 1.5), ("sub_", 0.1), ("neg_", None)]

    def setup(self):
        x = kitty.tensor([0.1, 0.2, 0.3, 0.4], dtype=kitty.float64, requires_grad=True)
        y = x * 1.
        return {"x": x, "y": y, "log": []}

    def run(self, state):
        y, log = state["y"], state["log"]
        for step in range(200):
            name, arg = self.OPS[step % len(self.OPS)]
            target = y if step % 3 else y[1:3]  # also in-place ops on a view
            before = (y.numpy().copy(), y.version)
            log.append((name, arg, step % 3 != 0, before))
            getattr(target, name)(*(() if arg is None else (arg,)))
            log[-1] = None

    def check(self, state):
        x, y, log = state["x"], state["y"], state["log"]
        applied = []
        for index, entry in enumerate(log):
            name, arg = self.OPS[index % len(self.OPS)]
            if entry is None:
                applied.append((name, arg, index % 3 != 0))
                continue
            # the op that was interrupted: its data changed if and only if its version moved
            _, _, whole, (data, version) = entry
            changed = not np.array_equal(y.numpy(), data)
            assert changed == (y.version != version), (name, changed, y.version, version)
            if changed:
                applied.append((name, arg, whole))
        # the graph stays consistent: backward gives torch's gradient of what was applied, or raises
        tx = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64, requires_grad=True)
        ty = tx * 1.
        for name, arg, whole in applied:
            getattr(ty if whole else ty[1:3], name)(*(() if arg is None else (arg,)))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        try:
            y.sum().backward()
        except RuntimeError:
            return
        ty.sum().backward()
        assert x.grad is not None
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")
def test_an_interrupted_in_place_op_keeps_data_version_and_graph_consistent():
    interrupted = _interrupted_trials(InPlaceChain(), trials=300, seed=1)
    assert interrupted > 100  # the timer really lands inside the ops


# ----------------------------------------------------------------------------- memory


def _freed_without_gc(build):
    """Builds a graph with the collector off and reports whether dropping it freed everything."""
    gc.collect()
    gc.disable()
    try:
        refs = build()
        return [r() is None for r in refs]
    finally:
        gc.enable()


class Cube(kitty.Function):
    def forward(self, x):
        self.ctx.saved_tensors.append(x)
        return x ** 3

    def backward(self, grad):
        return 3 * self.ctx.saved_tensors[0] ** 2 * grad


class SinOut(kitty.Function, output_version_check=True):
    def forward(self, x):
        out = kitty.tensor(np.sin(x.numpy()))
        self.ctx.saved_tensors.append(out)
        return out

    def backward(self, grad):
        return grad * (1 - self.ctx.out ** 2) ** 0.5


class TorchStyleExp(kitty.Function):
    @staticmethod
    def forward(ctx, x):
        out = kitty.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out


GRAPHS = {
    "ops": lambda x: (x * 2).exp().sum(),
    "views and in-place": lambda x: _views_inplace(x),
    "retain_grad": lambda x: _retained(x),
    "function (original style)": lambda x: Cube()(x),
    "function saving its output": lambda x: SinOut()(x),
    "function (torch style)": lambda x: TorchStyleExp.apply(x),
    "nn": lambda x: kitty.nn.functional.cross_entropy(kitty.nn.Linear(4, 3)(x), kitty.tensor([0, 1, 2, 0])),
}


def _views_inplace(x):
    y = x * 1
    row = y[0]
    row.mul_(2)
    y.add_(1)
    return y.sum()


def _retained(x):
    y = x * 3
    y.retain_grad()
    return y.sum()


@pytest.mark.parametrize("backward", [False, True], ids=["never-backward", "after-backward"])
@pytest.mark.parametrize("kind", list(GRAPHS))
def test_every_kind_of_graph_is_freed_by_reference_counting(kind, backward):
    def build():
        x = kitty.randn(4, 4, requires_grad=True)
        out = GRAPHS[kind](x)
        node = out.grad_fn
        refs = [weakref.ref(out), weakref.ref(node)]
        if backward:
            out.sum().backward()
        del out, node
        x.grad = None
        return refs

    assert _freed_without_gc(build) == [True, True]


def test_a_thousand_unused_function_outputs_do_not_accumulate():
    x = kitty.randn(128, 128, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        refs = []
        for _ in range(1000):
            out = Cube()(x)
            refs.append(weakref.ref(out))
            del out
        assert sum(r() is not None for r in refs) == 0
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- tracing


def test_a_tracer_sees_only_its_own_threads_ops():
    seen = []
    other_done = threading.Event()

    def other_thread():
        a = kitty.ones(2, requires_grad=True)
        (a * 3).exp()
        other_done.set()

    kitty.start_tracing(lambda op, inputs, out: seen.append(op.name))
    try:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        kitty.ones(2) + 1
    finally:
        kittygrad_core._tracing.stop_tracing(kittygrad_core._tracing.active_tracers()[-1])
    assert other_done.is_set() and seen == ["add"]


def test_comp_graphs_in_two_threads_record_separately():
    ready = threading.Barrier(2)
    sources = {}

    def record(tag, op):
        a = kitty.ones(2, requires_grad=True)
        with kitty.CompGraph() as dot:
            ready.wait()
            op(a)
            ready.wait()
        sources[tag] = dot.source

    threads = [threading.Thread(target=record, args=("exp", kitty.exp)),
               threading.Thread(target=record, args=("neg", lambda a: -a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "Exp" in sources["exp"] and "Neg" not in sources["exp"]
    assert "Neg" in sources["neg"] and "Exp" not in sources["neg"]


def test_a_raising_tracer_does_not_break_an_in_place_op_and_its_error_comes_at_stop():
    def tracer(op, inputs, output):
        raise ValueError("tracer broke")

    x = kitty.tensor([1., 2.])
    kitty.start_tracing(tracer)
    x.mul_(3)  # applied, version bumped: the op itself succeeded
    x.add_(1)  # the failed tracer is no longer called
    with pytest.raises(ValueError, match="tracer broke"):
        kitty.stop_tracing(tracer)
    assert x.tolist() == [4., 7.] and x.version == 2
    assert not kittygrad_core._tracing.active_tracers() and not kittygrad_core._tracing.ACTIVE


def test_stopping_a_tracer_that_never_started_names_it():
    def tracer(op, inputs, output):
        pass

    with pytest.raises(ValueError, match="stop_tracing\\(\\): .*tracer.* is not tracing in this context"):
        kitty.stop_tracing(tracer)


# ----------------------------------------------------------------------------- in-place history


INPLACE = [("add_", (2.,)), ("sub_", (1.,)), ("mul_", (3.,)), ("div_", (2.,)), ("pow_", (2,)),
           ("pow_", (3.,)), ("pow_", (0.5,)), ("neg_", ()), ("exp_", ()), ("log_", ()), ("abs_", ()),
           ("sqrt_", ()), ("sin_", ()), ("cos_", ()), ("tanh_", ()), ("sigmoid_", ()), ("log1p_", ()),
           ("expm1_", ()), ("reciprocal_", ()), ("clamp_", (0.2, 0.8)), ("relu_", ()), ("tan_", ()),
           ("square_", ()), ("rsqrt_", ()), ("exp2_", ()), ("log2_", ()), ("atan_", ()), ("asin_", ())]


@pytest.mark.parametrize("then", ["mul_", "div_", "add_"])
@pytest.mark.parametrize("name, args", INPLACE, ids=[f"{n}{a}" for n, a in INPLACE])
def test_in_place_history_is_accepted_or_refused_as_torch_does(name, args, then):
    data = np.array([0.3, 0.5, 0.7])

    def program(lib, make):
        x = make(data)
        y = x * 1
        getattr(y, name)(*args)
        getattr(y, then)(2.)
        y.sum().backward()
        return x.grad

    try:
        expected = program(torch, lambda d: torch.tensor(d, requires_grad=True))
    except RuntimeError:
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            program(kitty, lambda d: kitty.tensor(d, dtype=kitty.float64, requires_grad=True))
        return
    got = program(kitty, lambda d: kitty.tensor(d, dtype=kitty.float64, requires_grad=True))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10)


# ----------------------------------------------------------------------------- grad mode


def test_a_generator_decorated_with_no_grad_yields_tensors_without_grad():
    w = kitty.ones(2, requires_grad=True)

    @kitty.no_grad()
    def batches():
        for k in range(3):
            received = yield w * k
            assert not kitty.is_grad_enabled() and received in (None, "ping")

    gen = batches()
    first = next(gen)
    assert kitty.is_grad_enabled()  # the consumer keeps its own mode between items
    second = gen.send("ping")
    assert not first.requires_grad and not second.requires_grad
    assert all(not t.requires_grad for t in gen)

    @kitty.no_grad
    def bare():
        yield w * 2

    assert not next(bare()).requires_grad
    assert (w * 2).requires_grad



def test_library_code_inside_a_users_no_grad_does_not_warn(recwarn):
    model = kitty.nn.Sequential(kitty.nn.Linear(3, 2), kitty.nn.BatchNorm1d(2))
    optimizer = kitty.optim.SGD(model.parameters(), lr=0.1)
    model(kitty.randn(4, 3)).sum().backward()
    with kitty.no_grad():
        kitty.nn.init.normal_(model[0].weight)
        optimizer.step()
        model.load_state_dict(model.state_dict())
        model(kitty.randn(4, 3))
    assert not [w for w in recwarn if "no_grad" in str(w.message)]
    with pytest.warns(UserWarning, match="Calling no_grad more then once has no additional effect."):
        with kitty.no_grad(), kitty.no_grad():
            pass


# ----------------------------------------------------------------------------- rules that break the contract


@pytest.mark.parametrize("returned, message", [
    ("not a gradient", "returned a gradient of type str"),
    (None, None),  # no gradient: allowed, the input gets none
    ([1.0, 2.0], "returned a gradient of type list"),
])
def test_a_backward_returning_something_else_names_the_function(returned, message):
    class Odd(kitty.Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return returned

    x = kitty.tensor([1., 2.], requires_grad=True)
    if message is None:
        Odd()(x).sum().backward()
        assert x.grad is None
        return
    with pytest.raises(RuntimeError, match=f"OddBackward of op 'Odd'.* {message}"):
        Odd()(x).sum().backward()


def test_an_exception_inside_a_rule_gets_a_note_naming_the_node():
    class Broken(kitty.Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad):
            raise ValueError("inside the rule")

    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(ValueError, match="inside the rule") as info:
        Broken()(x).sum().backward()
    assert any("BrokenBackward" in note for note in info.value.__notes__)


# ----------------------------------------------------------------------------- promotion found by the fuzzer


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss"])
def test_losses_promote_like_torch_with_a_0d_target(loss):
    for a, b in ((np.ones(3, np.float32), np.array(0.5)), (np.array(1.0, np.float32), np.ones((2, 3), np.float16))):
        k = getattr(kitty.nn.functional, loss)(kitty.tensor(a, requires_grad=True), kitty.tensor(b))
        t = getattr(torch.nn.functional, loss)(torch.tensor(a, requires_grad=True), torch.tensor(b))
        assert str(k.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(k.numpy(), t.detach().numpy(), rtol=1e-3)


def test_bool_arrays_with_numbers_give_the_default_dtype_as_torch():
    mask = np.array([[True, False, True]])
    assert kitty.div(mask, -1.5).dtype == np.float32 == np.dtype(str(torch.div(torch.tensor(mask), -1.5).dtype)[6:])
    out = kitty.add(kitty.ones(3), mask, alpha=2.5)
    assert out.dtype == np.float32 and out.tolist() == [[3.5, 1.0, 3.5]]


def test_options_and_keys_of_the_wrong_kind_are_refused_not_truncated():
    x = kitty.tensor([-1.0, 2.0])
    with pytest.raises(TypeError, match="negative_slope must be a number, not complex"):
        kitty.leaky_relu(x, 1 + 2j)  # NumPy would drop the imaginary part: a silently wrong result
    with pytest.raises(TypeError, match="threshold must be a number, not complex"):
        kitty.nn.functional.softplus(x, 1.0, 1j)
    for t in (x, torch.tensor([-1.0, 2.0])):  # kittygrad as torch
        with pytest.raises(IndexError, match="only integers, slices"):
            t[1.0]
