"""``kitty.compile``: replays are bit-identical to eager runs, and what cannot be replayed runs eagerly
with one warning."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import kittygrad as kitty

F = kitty.nn.functional


def _snapshot(value: Any, tensors: list[Any]) -> tuple[Any, ...]:
    """Everything a replay must reproduce: the output's data and flags, each tensor's data, version and
    gradient (as bytes: bit-identical, NaN included)."""
    def one(t: Any) -> Any:
        if t is None:
            return None
        if isinstance(t, np.ndarray):  # an integer or boolean result
            return (t.tobytes(), t.dtype.str, t.shape)
        grad = t._grad
        return (t._data.tobytes(), t._data.dtype.str, t._data.shape, t._version[0], t.requires_grad,
                None if grad is None else (type(grad._data), grad._data.tobytes(), grad._data.dtype.str,
                                           grad._data.shape, grad._version[0]))
    outs = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(one(o) for o in outs), tuple(one(t) for t in tensors)


def _compare(build: Callable[[], tuple[Callable[..., Any], list[Any]]],
             inputs: Callable[[int], tuple[Any, ...]], calls: int = 4) -> Any:
    """Runs ``build()``'s function eagerly and compiled on the same inputs; asserts every call's
    snapshot is identical. Returns the compiled function."""
    snapshots = []
    compiled_fn = None
    for compiled in (False, True):
        kitty.manual_seed(0)
        fn, tensors = build()
        if compiled:
            fn = compiled_fn = kitty.compile(fn)
        rows = []
        for i in range(calls):
            args = inputs(i)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                out = fn(*args)
            rows.append(_snapshot(out, tensors + [a for a in args if isinstance(a, kitty.Tensor)]))
        snapshots.append(rows)
    eager, replayed = snapshots
    for i, (a, b) in enumerate(zip(eager, replayed)):
        assert a == b, f"call {i} differs from eager"
    return compiled_fn


def _batch(i: int, shape: tuple[int, ...] = (10, 8), classes: int = 4) -> tuple[Any, ...]:
    rng = np.random.default_rng(100 + i)
    return kitty.tensor(rng.standard_normal(shape).astype(np.float32)), rng.integers(0, classes, shape[0])


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_mlp_training_step_is_bit_identical(optimizer: str) -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        model = kitty.nn.Sequential(kitty.nn.Linear(8, 16), kitty.nn.ReLU(), kitty.nn.Linear(16, 4))
        opt = (kitty.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "SGD"
               else kitty.optim.Adam(model.parameters(), lr=0.01))

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step, list(model.parameters())
    compiled = _compare(build, _batch, calls=5)
    assert compiled is not None and len(compiled.cache) == 1


def test_digits_training_with_a_smaller_last_batch_is_bit_identical() -> None:
    # benchmarks/run.py's compiled training, as a user writes it: the batch as arguments, the smaller last
    # batch a second signature, the two replayed in turn over epochs; one batch ignores a target (-100),
    # which takes cross_entropy's general path inside the same record
    sizes = (10, 10, 3) * 3

    def build() -> tuple[Callable[..., Any], list[Any]]:
        model = kitty.nn.Sequential(kitty.nn.Linear(8, 16), kitty.nn.ReLU(), kitty.nn.Linear(16, 16),
                                    kitty.nn.ReLU(), kitty.nn.Linear(16, 4))
        opt = kitty.optim.Adam(model.parameters(), lr=0.01)

        def train_step(x: Any, y: Any) -> Any:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return train_step, list(model.parameters())

    def inputs(i: int) -> tuple[Any, ...]:
        x, y = _batch(i, (sizes[i], 8))
        if i == 4:
            y[1] = -100
        return x, y
    compiled = _compare(build, inputs, calls=len(sizes))
    assert compiled is not None and len(compiled.cache) == 2


def test_chain_of_elementwise_ops_is_bit_identical() -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        w = kitty.randn(64, requires_grad=True)

        def chain(x: Any) -> Any:
            y = ((x * w).exp() + 1).log().tanh() * 0.5 - x.sigmoid() / 3
            loss = (y * y).sum()
            loss.backward()
            return loss
        return chain, [w]

    def inputs(i: int) -> tuple[Any, ...]:
        return (kitty.tensor(np.random.default_rng(i).standard_normal(64).astype(np.float32),
                             requires_grad=True),)
    _compare(build, inputs)


def test_small_chain_clearing_grads_inside_is_bit_identical() -> None:
    # benchmarks/run.py's small-op chain: `a.grad = None` inside the function must be replayed too
    def build() -> tuple[Callable[..., Any], list[Any]]:
        rng = np.random.default_rng(0)
        a = kitty.tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)
        b = kitty.tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)

        def step() -> None:
            a.grad = None
            b.grad = None
            c = a * b + a
            d = (c.exp() * 0.5 - b).tanh()
            e = (d * d + c).sigmoid()
            e.sum().backward()
        return step, [a, b]
    _compare(build, lambda i: ())


def test_broadcasting_and_a_leaf_used_several_times_accumulate_in_eager_order() -> None:
    # w reaches the loss through three branches of very different magnitudes: float32 sums in another
    # order give other bits
    def build() -> tuple[Callable[..., Any], list[Any]]:
        w = kitty.tensor(np.random.default_rng(7).standard_normal((1, 5)).astype(np.float32), requires_grad=True)
        b = kitty.tensor(np.random.default_rng(8).standard_normal(5).astype(np.float32), requires_grad=True)

        def fn(x: Any, c: Any) -> Any:
            h = x * w + b                      # (4, 5) from (4, 5), (1, 5), (5,)
            u = (h * 1e-3).sum() + (h * w * 1e-2).exp().mean() * 1e4 + ((x + c) * w).sum() * 3.7
            u.backward()
            return u
        return fn, [w, b]

    def inputs(i: int) -> tuple[Any, ...]:
        rng = np.random.default_rng(30 + i)
        return (kitty.tensor(rng.standard_normal((4, 5)).astype(np.float32) * 1e-4, requires_grad=True),
                kitty.tensor(rng.standard_normal((4, 1)).astype(np.float32) * 1e3))
    _compare(build, inputs)


def test_broadcast_gradients_of_fresh_leaves_are_reduced_to_their_shapes() -> None:
    # broadcast gradients reduced for the leaves as the engine does: leading dims (b), a
    # stretched dim kept (w: (1, 5)), every dim down to a 0-d gradient (s); the grads are reset inside,
    # so each replay gives every leaf a new gradient of its own
    def build() -> tuple[Callable[..., Any], list[Any]]:
        rng = np.random.default_rng(9)
        w = kitty.tensor(rng.standard_normal((1, 5)).astype(np.float32), requires_grad=True)
        b = kitty.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
        s = kitty.tensor(np.float32(1.5), requires_grad=True)

        def fn(x: Any) -> Any:
            w.grad = b.grad = s.grad = None
            loss = ((x * w + b) * s).tanh().sum()
            loss.backward()
            return loss
        return fn, [w, b, s]

    def inputs(i: int) -> tuple[Any, ...]:
        return (kitty.tensor(np.random.default_rng(40 + i).standard_normal((3, 4, 5)).astype(np.float32)),)
    _compare(build, inputs)


def test_type_promotion_is_replayed() -> None:
    # float32 input with a float64 parameter and a 0-d float64: the forward sees promoted copies
    def build() -> tuple[Callable[..., Any], list[Any]]:
        w = kitty.tensor(np.linspace(-1, 1, 6), dtype=kitty.float64, requires_grad=True)
        s = kitty.tensor(1.5, dtype=kitty.float64, requires_grad=True)

        def fn(x: Any) -> Any:
            loss = ((x * w).sin() * s + x).sum()
            loss.backward()
            return loss
        return fn, [w, s]
    _compare(build, lambda i: (kitty.tensor(np.arange(6, dtype=np.float32) + i, requires_grad=True),))


def test_new_inputs_are_read_and_a_new_shape_records_again() -> None:
    w = kitty.tensor(np.arange(3, dtype=np.float32))
    fn = kitty.compile(lambda x: (x * w).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fn(kitty.ones(3)).item() == 3.0
        assert fn(kitty.ones(3) * 2).item() == 6.0          # a replay on the new array, not the first
        assert fn(kitty.ones(2, 3)).item() == 6.0           # another shape: recorded again
        assert len(fn.cache) == 2
        out = fn(kitty.ones(3))
    assert not out.requires_grad and out._version == [0]


def _eager_warns_once(fn: Callable[..., Any], args_list: list[tuple[Any, ...]], pattern: str) -> list[Any]:
    compiled = kitty.compile(fn)
    results = []
    with pytest.warns(UserWarning, match=pattern) as record:
        results.append(compiled(*args_list[0]))
    assert sum("kitty.compile" in str(w.message) for w in record) == 1
    assert "test_compile.py:" in str(record[0].message)  # names the line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for args in args_list[1:]:
            results.append(compiled(*args))
    return results


@pytest.mark.parametrize("read, pattern", [("item", r"item\(\)"), ("numpy", r"numpy\(\)"),
                                           ("bool", r"bool\(tensor\)"), ("float", r"float\(tensor\)"),
                                           ("print", "print"), ("grad", "reading .grad")])
def test_value_reads_fall_back_to_eager_with_one_warning(read: str, pattern: str, capsys: Any) -> None:
    w = kitty.ones(3, requires_grad=read == "grad")

    def fn(x: Any) -> Any:
        y = (x * w).sum()
        if read == "item":
            s = y.item()
        elif read == "numpy":
            s = float(y.numpy())
        elif read == "bool":
            s = 2.0 if bool(y.reshape(1)[0:1].sum()) else 1.0
        elif read == "float":
            s = float(y)
        elif read == "print":
            print(y)
            s = 1.0
        else:
            y.backward()
            return w.grad * 1.0
        return y * s
    args = [(kitty.tensor([1.0, 2.0, 3.0]),), (kitty.tensor([-1.0, 0.5, 2.0]),)]
    results = _eager_warns_once(fn, args, pattern)
    w.grad = None
    eager = [fn(*a) for a in args]
    for r, e in zip(results, eager):
        assert np.array_equal(r.numpy(), e.numpy())


def test_hooks_retain_graph_create_graph_and_inplace_fall_back() -> None:
    def hooked(x: Any) -> Any:
        y = x * 2
        y.register_hook(lambda g: g * 3)
        y.sum().backward()
        return None

    x = kitty.ones(3, requires_grad=True)
    _eager_warns_once(hooked, [(x,), (x,)], "hook")
    assert np.array_equal(x.grad.numpy(), np.full(3, 12.0, np.float32))  # two eager calls: 6 + 6

    def retained(x: Any) -> None:
        (x * x).sum().backward(retain_graph=True)
    x = kitty.ones(3, requires_grad=True)
    _eager_warns_once(retained, [(x,), (x,)], "retain_graph")
    assert np.array_equal(x.grad.numpy(), np.full(3, 4.0, np.float32))

    p = kitty.ones(3)

    def inplace(x: Any) -> Any:  # in place on a tensor fn did not receive: a parameter, a constant
        p.add_(x)
        return p * 1.0
    outs = _eager_warns_once(inplace, [(kitty.ones(3),), (kitty.full((3,), 2.0),)], "in-place 'add'")
    assert [o.sum().item() for o in outs] == [6.0, 12.0] and p._version == [2]

    w = kitty.ones(2, requires_grad=True)

    def assign(x: Any) -> Any:
        w.grad = x * 1.0
        return None
    _eager_warns_once(assign, [(kitty.ones(2),), (kitty.zeros(2),)], "assigning a tensor to .grad")
    assert np.array_equal(w.grad.numpy(), [0.0, 0.0])


def test_a_plugin_op_declared_not_replayable_falls_back(monkeypatch: Any) -> None:
    x = kitty.ones(3, requires_grad=True)
    op = type(x.exp().grad_fn)
    monkeypatch.setattr(op, "replayable", False, raising=False)
    outs = _eager_warns_once(lambda t: t.exp().sum(), [(kitty.zeros(3),), (kitty.ones(3),)], "not replayable")
    assert np.array_equal(outs[1].numpy(), kitty.ones(3).exp().sum().numpy())


def test_dropout_is_replayed_from_the_generator_state() -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        w = kitty.randn(20, requires_grad=True)

        def fn(x: Any) -> Any:
            loss = F.dropout(x * w, 0.5, training=True).sum()
            loss.backward()
            return loss
        return fn, [w]
    _compare(build, lambda i: (kitty.tensor(np.linspace(0, 1, 20, dtype=np.float32) + i),), calls=4)


def test_the_cache_is_bounded_and_warns_when_it_keeps_growing() -> None:
    fn = kitty.compile(cache_size=2)(lambda x: x * 2)
    fn(kitty.ones(1))
    fn(kitty.ones(2))
    with pytest.warns(UserWarning, match="more than 2 input signatures"):
        fn(kitty.ones(3))
    assert len(fn.cache) == 2
    assert np.array_equal(fn(kitty.ones(1)).numpy(), [2.0])  # evicted, recorded again


def test_outputs_that_keep_a_graph_run_eagerly() -> None:
    w = kitty.ones(2, requires_grad=True)
    fn = kitty.compile(lambda x: (x * w).sum())
    with pytest.warns(UserWarning, match="graph no backward"):
        fn(kitty.ones(2))
    out = fn(kitty.ones(2))
    out.backward()  # the graph is there: the call ran eagerly
    assert np.array_equal(w.grad.numpy(), [1.0, 1.0])


def test_an_error_while_recording_leaves_no_record_and_no_recorder() -> None:
    calls = []

    def fn(x: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first call fails")
        return x * 2

    compiled = kitty.compile(fn)
    with pytest.raises(ValueError, match="first call fails"):
        compiled(kitty.ones(2))
    assert not compiled.cache
    x = kitty.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        float(x.sum())
        assert np.array_equal(compiled(kitty.ones(2)).numpy(), [2.0, 2.0])
        assert np.array_equal(compiled(kitty.ones(2) * 3).numpy(), [6.0, 6.0])
    assert len(calls) == 2  # the third call replayed


@pytest.mark.parametrize("make", ["randn", "rand", "randn_like", "randint", "randperm"])
def test_random_tensors_created_inside_fall_back_rather_than_freeze(make: str) -> None:
    # their values would be constants of the record: the same noise at every replay
    def fn(x: Any) -> Any:
        if make == "randint":
            noise = kitty.randint(0, 5, (3,))
        elif make == "randperm":
            noise = kitty.randperm(3)
        elif make == "randn_like":
            noise = kitty.randn_like(x)
        else:
            noise = getattr(kitty, make)(3)
        return x * 2 + noise

    args = [(kitty.tensor([1.0, 2.0, 3.0]),), (kitty.tensor([1.0, 2.0, 3.0]),)]
    kitty.manual_seed(7)
    results = _eager_warns_once(fn, args, rf"kitty\.{make.removesuffix('_like')}\(\)")
    kitty.manual_seed(7)
    eager = [fn(*a) for a in args]
    for r, e in zip(results, eager):
        assert np.array_equal(r.numpy(), e.numpy())
    assert not np.array_equal(results[0].numpy(), results[1].numpy())  # fresh noise each call


@pytest.mark.parametrize("how", ["detach", "data", "detach_"])
def test_detached_copies_and_aliases_fall_back_rather_than_freeze(how: str) -> None:
    # an unrecorded tensor made from an input would be a constant of the record: stale at replay
    def fn(x: Any) -> Any:
        y = x * 2
        if how == "detach":
            held = y.detach()
        elif how == "data":
            held = y.data
        else:
            held = (y * 1).detach_()
        return y + held

    args = [(kitty.tensor([1.0, 2.0]),), (kitty.tensor([5.0, -3.0]),)]
    results = _eager_warns_once(fn, args, rf"Tensor\.{how}")
    for r, a in zip(results, args):
        assert np.array_equal(r.numpy(), fn(*a).numpy())


def _pair(i: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(200 + i)
    return (kitty.tensor(rng.standard_normal((3, 4)), requires_grad=True),
            kitty.tensor(rng.standard_normal((3, 4))))


def test_inplace_ops_and_setitem_replay_with_eager_data_versions_and_grads() -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        def fn(x: Any, b: Any) -> Any:
            b.add_(1)                   # an argument without history: its version moves as eagerly
            b[0].fill_(3)               # through a view of it
            b[1:, 2].zero_()
            b[2, [0, 1]] = 5.0
            y = x * 2
            y += b                      # an intermediate: the backward goes through the in-place node
            y.mul_(x)                   # saves its input, which is the target (copied first)
            y[0] = 1.0
            y[1, [0, 2]] = x[2, :2]     # setitem's gradient to the value
            y.sum().backward()
            with kitty.no_grad():
                return y * 1.0
        return fn, []
    _compare(build, _pair)


def test_integer_and_boolean_results_and_index_options_feed_later_ops() -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        def fn(x: Any, b: Any, mask: Any, rows: Any) -> Any:
            i = x.argmax(dim=1, keepdim=True)
            values, j = x.max(dim=0)
            y = (x.masked_fill(mask, 0.5).gather(1, i).sum() + x.reshape(-1)[x.argmin()]
                 + x.index_select(0, rows).sum() + x[rows].sum() + values.sum() + x[0, j].sum())
            z = x * 1.0
            z[rows] = b[0]              # an index tensor argument, converted to integers at each replay
            (y + z.sum()).backward()
            with kitty.no_grad():
                return y * 1.0, z * 1.0, kitty.isclose(x, b, atol=1.0), j
        return fn, []

    def inputs(i: int) -> tuple[Any, ...]:
        x, b = _pair(i)
        rng = np.random.default_rng(300 + i)
        return x, b, rng.standard_normal((3, 4)) > 0, kitty.tensor(rng.permutation(3)[:2].astype(float))
    _compare(build, inputs)


@pytest.mark.parametrize("case, pattern", [
    ("view_requiring_grad", "in-place 'mul' on a view that requires grad"),
    ("argument_history", "giving an argument of the compiled function a history"),
    ("zero_d_index", "a 0-d tensor used as an index"),
    ("comparison_mask", "NumPy array that is not an argument"),
    ("allclose", r"allclose\(\)"),
])
def test_what_cannot_replay_faithfully_falls_back(case: str, pattern: str) -> None:
    def fn(x: Any, b: Any) -> Any:
        if case == "view_requiring_grad":
            y = x * 1.0
            y[0].mul_(2)
            out = y
        elif case == "argument_history":
            b.mul_(x)
            out = b
        elif case == "zero_d_index":
            out = x[b[0, 0] * 0 + 1]
        elif case == "comparison_mask":
            out = x.masked_fill(b > 0, 0.0)
        else:
            out = x * (2.0 if kitty.allclose(x, b) else 1.0)
        out.sum().backward()
        with kitty.no_grad():
            return out * 1.0
    args = [_pair(0), _pair(1), _pair(2)]
    eager = [fn(*_pair(i)) for i in range(3)]
    results = _eager_warns_once(fn, args, pattern)
    for r, e in zip(results, eager):
        assert np.array_equal(r.numpy(), e.numpy())


def test_batch_norm_in_evaluation_reads_the_running_statistics_at_each_replay() -> None:
    held: list[Any] = []

    def build() -> tuple[Callable[..., Any], list[Any]]:
        bn = kitty.nn.BatchNorm1d(3)
        bn.eval()
        bn.requires_grad_(False)
        held[:] = [bn]
        return (lambda x: bn(x) * 1.0), [bn.running_mean, bn.running_var]

    def inputs(i: int) -> tuple[Any, ...]:
        rng = np.random.default_rng(400 + i)
        kitty.extend.write_(held[0].running_var, rng.uniform(0.5, 2.0, 3))  # between calls
        return (kitty.tensor(rng.standard_normal((4, 3)).astype(np.float32)),)
    compiled = _compare(build, inputs)
    assert all(entry.failure is None for entry, _ in compiled.cache.values())


def test_an_unrecorded_write_inside_falls_back() -> None:
    buffer = kitty.zeros(3)

    def fn(x: Any) -> Any:
        kitty.extend.write_(buffer, x)  # not an op: a replay would not repeat it
        return x * 1.0
    _eager_warns_once(fn, [(kitty.ones(3),), (kitty.full((3,), 2.0),)], r"extend.write_\(\)")
    assert buffer.tolist() == [2.0, 2.0, 2.0]


def test_a_boolean_mask_index_whose_count_changes_records_again() -> None:
    def build() -> tuple[Callable[..., Any], list[Any]]:
        def fn(x: Any, mask: Any) -> Any:
            y = x[mask] * 2.0           # its shape is the count of True values
            y.sum().backward()
            with kitty.no_grad():
                return y * 1.0
        return fn, []

    masks = [[True, False, True], [True, True, True], [False, True, True], [True, False, False]]
    compiled = _compare(build, lambda i: (_pair(i)[0], np.array(masks[i])))
    assert len(compiled.cache) == 1     # one signature, recorded again at each new count

    def inside(x: Any) -> Any:          # a mask made inside: nothing to guard it by
        y = x[kitty.isclose(x, x * 1.0)] * 2.0
        y.sum().backward()
        with kitty.no_grad():
            return y * 1.0
    _eager_warns_once(inside, [_pair(0)[:1], _pair(1)[:1]], "boolean mask made inside")
