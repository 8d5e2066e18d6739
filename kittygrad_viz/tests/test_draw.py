"""draw(): the backward graph of existing tensors, after the fact."""
import pytest
from viz_dot import parse_dot

import kittygrad_core as kitty
from kittygrad_viz import CompGraph, draw

BROWN, GREEN, YELLOW, BLUE = "#63473d", "#7ba763", "#cdad56", "#22709a"


def test_draw_a_multi_output_graph():
    a = kitty.ones(2, 3, requires_grad=True)
    b = kitty.ones(2, 3, requires_grad=True)
    h = a * b
    y1 = h.sum()
    y2 = (h * 2).mean()
    graph = draw(y1, y2, params={"a": a, "b": b})
    assert isinstance(graph, CompGraph)
    dot = parse_dot(graph.source)

    roots = dot.labelled("Tensor\n()\nfloat32")
    assert len(roots) == 2 and all(dot.nodes[r]["color"] == BROWN for r in roots)
    sum_bw, mean_bw = dot.one("SumBackward\n() float32"), dot.one("MeanBackward\n() float32")
    # the shared part is drawn once, reached from both outputs
    assert len(dot.labelled("MulBackward\n(2, 3) float32")) == 2
    mul_2, = [n for n in dot.labelled("MulBackward\n(2, 3) float32") if (mean_bw, n) in dot.edges]
    mul_h, = [n for n in dot.labelled("MulBackward\n(2, 3) float32") if (sum_bw, n) in dot.edges]
    assert (mul_2, mul_h) in dot.edges
    assert {dot.edges[r, fn]["style"] for r in roots for fn in (sum_bw, mean_bw) if (r, fn) in dot.edges} == {
        "dashed"}
    accs = dot.labelled("AccumulateGrad")
    assert len(accs) == 2 and all((mul_h, acc) in dot.edges for acc in accs)
    leaves = {dot.nodes[h]["label"]: h for (t, h) in dot.edges if t in accs}
    assert set(leaves) == {"a\n(2, 3)\nfloat32", "b\n(2, 3)\nfloat32"}
    assert all(dot.nodes[leaf]["color"] == GREEN for leaf in leaves.values())
    assert all(attrs["color"] == BLUE for (t, h), attrs in dot.edges.items() if t not in roots)
    as_list = parse_dot(draw([y1, y2]).source)
    assert (len(as_list.nodes), len(as_list.edges)) == (len(dot.nodes), len(dot.edges))


def test_draw_shows_dtypes_and_saved_arrays_until_backward():
    x = kitty.ones(2, dtype=kitty.float64, requires_grad=True)
    y = (x * x).exp().sum()
    saved = parse_dot(draw(y, show_saved=True).source)
    labels = sorted(attrs["label"] for n, attrs in saved.nodes.items() if n.startswith("saved"))
    assert labels == ["input\n(2,) float64", "other\n(2,) float64", "out\n(2,) float64"]
    assert saved.one("ExpBackward\n(2,) float64")
    assert "saved" not in draw(y).source  # optional
    y.backward()
    assert "saved" not in draw(y, show_saved=True).source  # released once the nodes ran


def test_draw_a_leaf_and_a_tensor_without_history():
    leaf = kitty.ones(3, requires_grad=True)
    dot = parse_dot(draw(leaf).source)
    assert list(dot.nodes.values()) == [{"label": "Tensor\n(3,)\nfloat32", "style": "filled",
                                         "color": GREEN, "fillcolor": "#d1e4cf"}]
    assert parse_dot(draw(kitty.ones(3)).source).nodes.popitem()[1]["color"] == YELLOW


def test_draw_passes_graphviz_and_colour_arguments():
    x = kitty.ones(2, requires_grad=True)
    graph = draw(x * 2, backward_color="black", graph_attr={"rankdir": "LR"}, format="png")
    assert graph.format == "png" and graph.graph_attr["rankdir"] == "LR"
    assert 'color=black' in graph.source


def test_draw_a_chain_deeper_than_the_recursion_limit():
    x = kitty.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1
    assert draw(y).source.count("MulBackward") == 3000


def test_draw_rejects_non_tensors():
    with pytest.raises(TypeError, match="expects tensors"):
        draw([1.0])
    with pytest.raises(TypeError, match="at least one tensor"):
        draw()
