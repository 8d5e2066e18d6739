"""Grad mode: no_grad, enable_grad, set_grad_enabled; local to a thread."""
import asyncio
import threading

import pytest

import kittygrad_core as kitty

pytestmark = pytest.mark.usefixtures("ops")


def recorded(x):
    return (x * 2).grad_fn is not None


@pytest.fixture
def x():
    return kitty.tensor([1., 2.], requires_grad=True)


def test_grad_is_enabled_by_default(x):
    assert kitty.is_grad_enabled()
    assert recorded(x)


def test_no_grad_context_manager(x):
    with kitty.no_grad():
        assert not kitty.is_grad_enabled()
        y = x * 2
        assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    assert kitty.is_grad_enabled() and recorded(x)


def test_no_grad_restores_on_exception():
    with pytest.raises(ValueError):
        with kitty.no_grad():
            raise ValueError
    assert kitty.is_grad_enabled()


def test_no_grad_instance_is_reusable_and_reentrant(x):
    ctx = kitty.no_grad()
    with ctx:
        with ctx:
            assert not recorded(x)
        assert not recorded(x)
    assert recorded(x)


def test_bare_no_grad_decorator(x):
    @kitty.no_grad
    def double(t):
        """Doubles."""
        return t * 2

    assert double(x).grad_fn is None
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    assert recorded(x)


def test_called_no_grad_decorator(x):
    @kitty.no_grad()
    def double(t):
        return t * 2

    assert double(x).grad_fn is None
    assert recorded(x)


def test_enable_grad_inside_no_grad(x):
    with kitty.no_grad():
        with kitty.enable_grad():
            assert kitty.is_grad_enabled() and recorded(x)
        assert not kitty.is_grad_enabled()


def test_enable_grad_decorator_inside_no_grad(x):
    @kitty.enable_grad
    def double(t):
        return t * 2

    with kitty.no_grad():
        assert double(x).grad_fn is not None


def test_set_grad_enabled_as_a_function(x):
    kitty.set_grad_enabled(False)
    try:
        assert not kitty.is_grad_enabled() and not recorded(x)
    finally:
        kitty.set_grad_enabled(True)
    assert kitty.is_grad_enabled() and recorded(x)


@pytest.mark.parametrize("mode", [False, True])
def test_set_grad_enabled_as_a_context_manager(x, mode):
    with kitty.no_grad() if mode else kitty.enable_grad():
        with kitty.set_grad_enabled(mode):
            assert kitty.is_grad_enabled() is mode and recorded(x) is mode
        assert kitty.is_grad_enabled() is not mode


def test_set_grad_enabled_as_a_decorator(x):
    @kitty.set_grad_enabled(False)
    def double(t):
        return t * 2

    assert kitty.is_grad_enabled()  # decorating does not switch grad mode off
    assert double(x).grad_fn is None
    assert recorded(x)


def test_no_grad_in_one_thread_does_not_affect_another(x):
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def disabling():
        with kitty.no_grad():
            seen["disabling"] = recorded(x)
            entered.set()
            checked.wait(5)

    def other():
        entered.wait(5)
        seen["other"] = kitty.is_grad_enabled(), recorded(x)
        checked.set()

    threads = [threading.Thread(target=disabling), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert entered.is_set() and checked.is_set()
    assert seen == {"disabling": False, "other": (True, True)}
    assert kitty.is_grad_enabled()


def test_no_grad_in_one_asyncio_task_does_not_affect_another(x):
    async def disabling(entered, checked):
        with kitty.no_grad():
            entered.set()
            await checked.wait()
            return recorded(x)

    async def other(entered, checked):
        await entered.wait()
        try:
            return recorded(x)
        finally:
            checked.set()

    async def main():
        entered, checked = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(disabling(entered, checked), other(entered, checked))

    assert asyncio.run(main()) == [False, True]
