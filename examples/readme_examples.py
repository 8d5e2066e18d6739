"""Run the two examples of the kittygrad README.

1. The gradient example: a small expression, its value and its gradients.
2. The graph example: a computation drawn by ``kitty.CompGraph`` (kittygrad-viz).
   When ``CompGraph`` is not available yet, the computation still runs, without the picture.
"""

from pathlib import Path

import kittygrad as kitty

OUT_DIR = Path(__file__).resolve().parent.parent / "out"


def gradient_example() -> None:
    print("== gradient example ==")
    a = kitty.tensor([1, 2, 3], requires_grad=True)
    b = a.std()
    b.retain_grad()
    c = b * kitty.dot(a, a)
    print(c)  # tensor(14., grad_fn=<MulBackward>)
    c.backward()
    print(a.grad)  # tensor([-5.,  4., 13.])
    print(b.grad)  # tensor(14.)


def graph_example() -> None:
    print("== graph example ==")
    kitty.manual_seed(0)
    a, b = kitty.randn(2, 2, 3)
    a.requires_grad = True

    if not hasattr(kitty, "CompGraph"):
        c = a + 42
        c **= 2
        d = c * b
        print(d)
        print("(the picture of this graph comes with kittygrad-viz: kitty.CompGraph is not available yet)")
        return

    with kitty.CompGraph() as dot:
        c = a + 42
        c **= 2
        _ = c * b
    print(_)
    OUT_DIR.mkdir(exist_ok=True)
    # The README calls dot.view(cleanup=True); render() writes a file and needs no display.
    path = dot.render(str(OUT_DIR / "comp_graph"), cleanup=True)
    print(f"graph written to {path}")


def main() -> None:
    gradient_example()
    graph_example()


if __name__ == "__main__":
    main()
