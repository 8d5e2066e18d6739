"""Draw computational graphs with kittygrad-viz; the pictures go to ``out/`` as SVG.

1. ``out/comp_graph.svg``: the README's graph example, recorded by ``kitty.CompGraph`` while it runs.
2. ``out/mlp_backward.svg``: the backward graph of a small MLP-like loss, drawn after the fact by
   ``kitty.viz.draw`` (op names, shapes and dtypes on the nodes, the weights named, saved arrays shown).

Rendering needs Graphviz's ``dot`` (``apt-get install graphviz`` / ``brew install graphviz``).
"""
from pathlib import Path

import kittygrad as kitty

OUT_DIR = Path(__file__).resolve().parent.parent / "out"


def readme_graph() -> str:
    kitty.manual_seed(0)
    a, b = kitty.randn(2, 2, 3)
    a.requires_grad = True
    with kitty.CompGraph() as dot:
        c = a + 42
        c **= 2
        _ = c * b
    return dot.render(str(OUT_DIR / "comp_graph"), format="svg", cleanup=True)


def mlp_graph() -> str:
    kitty.manual_seed(0)
    x = kitty.randn(4, 3)
    w1 = kitty.randn(3, 5, requires_grad=True)
    b1 = kitty.zeros(5, requires_grad=True)
    w2 = kitty.randn(5, 1, requires_grad=True)
    hidden = 1 / (1 + (-(x @ w1 + b1)).exp())  # a sigmoid, spelled out
    loss = ((hidden @ w2) ** 2).mean()
    dot = kitty.viz.draw(loss, params={"w1": w1, "b1": b1, "w2": w2}, show_saved=True)
    return dot.render(str(OUT_DIR / "mlp_backward"), format="svg", cleanup=True)


def main() -> None:
    OUT_DIR.mkdir(exist_ok=True)
    print(f"graph written to {readme_graph()}")
    print(f"graph written to {mlp_graph()}")


if __name__ == "__main__":
    main()
