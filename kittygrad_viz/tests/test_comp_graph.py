"""CompGraph: what a recording draws (nodes, edges, colours, shapes), and when it records."""
import pytest
from viz_dot import parse_dot

import kittygrad_core as kitty
from kittygrad_viz import CompGraph, _state

GREEN, BROWN, YELLOW, BLUE = "#7ba763", "#63473d", "#cdad56", "#22709a"
FILL = {GREEN: "#d1e4cf", BROWN: "#c5b9b7", YELLOW: "#ffefc7", BLUE: "#a9d8ee"}
BOX = "Tensor\n(2, 3)"


def readme_graph(**kwargs):
    a, b = kitty.randn(2, 2, 3)
    a.requires_grad = True
    with CompGraph(**kwargs) as dot:
        c = a + 42
        c **= 2
        _ = c * b
    return dot, parse_dot(dot.source)


def colour(dot, name):
    attrs = dot.nodes[name]
    assert attrs["fillcolor"] == FILL[attrs["color"]], attrs
    return attrs["color"]


# ----------------------------------------------------------------------------- the README example


def test_readme_example_nodes_colours_and_shapes():
    graph, dot = readme_graph()
    assert graph.strict
    assert "shape=box" in graph.source.split("\n")[2]  # tensors: boxes (the default node shape)

    forward = {label: dot.one(label) for label in ("add", "pow_", "mul")}
    backward = {label: dot.one(label) for label in ("AddBackward", "PowBackward", "MulBackward",
                                                    "AccumulateGrad")}
    for name in (*forward.values(), *backward.values()):
        assert dot.nodes[name]["style"] == "rounded,filled"  # operations and gradient flow: round
    for name in forward.values():
        assert colour(dot, name) == BROWN
    for name in backward.values():
        assert colour(dot, name) == BLUE

    boxes = {name: attrs for name, attrs in dot.nodes.items() if attrs.get("style") == "filled"}
    assert sorted(attrs["label"] for attrs in boxes.values()) == sorted(
        ["2", "42", BOX, BOX, BOX, BOX, BOX + "\nversion 1"])
    assert len(dot.nodes) == 3 + 4 + 7


def test_readme_example_edges():
    _, dot = readme_graph()
    add, pow_, mul = dot.one("add"), dot.one("pow_"), dot.one("mul")
    add_bw, pow_bw, mul_bw, acc = (dot.one(label) for label in (
        "AddBackward", "PowBackward", "MulBackward", "AccumulateGrad"))
    ins = {op: {t for (t, h) in dot.visible_edges() if h == op} for op in (add, pow_, mul)}
    outs = {op: [h for (t, h) in dot.visible_edges() if t == op] for op in (add, pow_, mul)}

    a, = [t for t in ins[add] if dot.nodes[t]["label"] == BOX]
    const42, = [t for t in ins[add] if dot.nodes[t]["label"] == "42"]
    assert colour(dot, a) == GREEN and colour(dot, const42) == YELLOW
    c0, = outs[add]
    assert colour(dot, c0) == BROWN and ins[pow_] == {c0, dot.one("2")}
    c1, = outs[pow_]
    assert dot.nodes[c1]["label"] == BOX + "\nversion 1" and colour(dot, c1) == BROWN
    b, = ins[mul] - {c1}
    assert colour(dot, b) == YELLOW and c1 in ins[mul]
    out, = outs[mul]
    assert colour(dot, out) == BROWN

    # forward edges take the colour of their tail
    for (tail, head) in dot.visible_edges():
        if head in (add, pow_, mul) or tail in (add, pow_, mul):
            assert dot.edges[tail, head]["color"] == dot.nodes[tail]["color"]
    # each non-leaf tensor is dashed into its backward node
    for tensor, fn in ((c0, add_bw), (c1, pow_bw), (out, mul_bw)):
        assert dot.edges[tensor, fn] == {"color": BLUE, "constraint": "false", "style": "dashed"}
    # the backward graph: blue, from the output down to the leaf's AccumulateGrad
    for edge in ((mul_bw, pow_bw), (pow_bw, add_bw), (add_bw, acc)):
        assert dot.edges[edge]["color"] == BLUE
    assert dot.edges[a, acc] == {"color": BLUE, "dir": "back", "weight": "1.2"}
    backward_edges = {e for e in dot.visible_edges() if dot.edges[e]["color"] == BLUE}
    assert backward_edges == {(mul_bw, pow_bw), (pow_bw, add_bw), (add_bw, acc), (a, acc),
                              (c0, add_bw), (c1, pow_bw), (out, mul_bw)}


def test_colours_are_arguments_and_graphviz_attributes_pass_through():
    graph, dot = readme_graph(leaf_color="red", leaf_fillcolor="pink", backward_fillcolor="white",
                              graph_attr={"rankdir": "LR"}, node_attr={"fontname": "Helvetica"},
                              edge_attr={"arrowsize": "1"}, name="readme", format="svg")
    assert graph.name == "readme" and graph.format == "svg"
    assert graph.graph_attr == {"margin": "0.075,0.075", "ranksep": "0.45", "outputorder": "edgesfirst",
                                "rankdir": "LR"}
    assert graph.node_attr["fontname"] == "Helvetica" and graph.node_attr["shape"] == "box"
    assert graph.edge_attr == {"arrowsize": "1", "penwidth": "1.4"}
    leaf, = [n for n, attrs in dot.nodes.items() if attrs.get("color") == "red"]
    assert dot.nodes[leaf]["fillcolor"] == "pink"
    assert dot.nodes[dot.one("MulBackward")]["fillcolor"] == "white"
    assert CompGraph(strict=False).strict is False


# ----------------------------------------------------------------------------- what gets coloured how


def test_ops_without_autograd_are_yellow_and_have_no_backward_node():
    x = kitty.ones(2, 3)
    w = kitty.ones(2, 3, requires_grad=True)
    with CompGraph() as graph:
        y = x * 2
        with kitty.no_grad():
            z = w + 1
    dot = parse_dot(graph.source)
    for name in (dot.one("mul"), dot.one("add")):
        assert colour(dot, name) == YELLOW
    assert not [n for n, attrs in dot.nodes.items() if attrs["label"].endswith(("Backward", "Grad"))]
    assert not y.requires_grad and not z.requires_grad
    boxes = [n for n, attrs in dot.nodes.items() if attrs["label"] == BOX]
    assert sorted(colour(dot, n) for n in boxes) == [GREEN, YELLOW, YELLOW, YELLOW]  # w, x, y, z


def test_inplace_op_draws_the_new_version_and_the_old_state():
    a = kitty.ones(2, 3, requires_grad=True)
    b = kitty.ones(2, 3)  # no relation to autodiff until a is added into it
    with CompGraph() as graph:
        b += a
        b.mul_(3)
    dot = parse_dot(graph.source)
    add_, mul_ = dot.one("add_"), dot.one("mul_")
    b0, = [t for (t, h) in dot.edges if h == add_ and colour(dot, t) == YELLOW]
    assert dot.nodes[b0]["label"] == BOX
    b1, = [h for (t, h) in dot.visible_edges() if t == add_]
    b2, = [h for (t, h) in dot.visible_edges() if t == mul_]
    assert dot.nodes[b1]["label"] == BOX + "\nversion 1" and colour(dot, b1) == BROWN
    assert dot.nodes[b2]["label"] == BOX + "\nversion 2" and colour(dot, b2) == BROWN
    assert (b1, mul_) in dot.edges
    add_bw, mul_bw = dot.one("AddBackward"), dot.one("MulBackward")
    assert (mul_bw, add_bw) in dot.edges and (add_bw, dot.one("AccumulateGrad")) in dot.edges
    assert b.grad_fn is not None and b.version == 2


def test_inplace_op_under_no_grad_is_drawn_without_backward():
    x = kitty.ones(2, 3)
    with CompGraph() as graph:
        x.mul_(2)
    dot = parse_dot(graph.source)
    assert colour(dot, dot.one("mul_")) == YELLOW
    assert dot.one(BOX + "\nversion 1")
    assert "Backward" not in graph.source


class VizTestT(kitty.Op):
    """A test-only view op: reverses the dimensions, sharing memory and version counter."""

    name = "viz_test_t"
    view = True

    def forward(self, xp, input):
        return input.T

    def backward(self, xp, grad):
        return grad.T


@pytest.fixture
def view_op():
    kitty.registry.register(VizTestT, plugin="viz-tests")
    yield kitty.viz_test_t
    kitty.registry.unregister("viz_test_t")


def test_views_appear_and_share_versions_with_their_base(view_op):
    x = kitty.ones(2, 3, requires_grad=True)
    with CompGraph() as graph:
        base = x * 1
        v = view_op(base)
        y = v * 2
        with kitty.no_grad():
            base.add_(1)  # modifies v through its base
        z = v * 3
    dot = parse_dot(graph.source)
    forward = dot.one("viz_test_t")
    out, = [h for (t, h) in dot.visible_edges() if t == forward]
    assert dot.nodes[out]["label"] == "Tensor\n(3, 2)\nview" and colour(dot, out) == BROWN
    view_bw = dot.one("VizTestTBackward")
    base_bw, = [n for n in dot.labelled("MulBackward") if (n, dot.one("AccumulateGrad")) in dot.edges]
    assert (out, view_bw) in dot.edges and (view_bw, base_bw) in dot.edges
    # after the base was modified in place, the view is drawn as its new version
    assert dot.one("Tensor\n(3, 2)\nversion 1")
    assert y.grad_fn is not None and z.grad_fn is not None


# ----------------------------------------------------------------------------- when it records


def test_ops_outside_the_block_are_not_drawn():
    a = kitty.ones(2, requires_grad=True)
    b = a * 2
    with CompGraph(require_leaves=False) as graph:
        c = b + 1
    _ = c.exp()
    source = graph.source
    assert source.count("label=add") == 1
    assert "label=mul" not in source and "label=exp" not in source
    assert not kitty._tracing.active_tracers() and _state.active.get() is None


def test_recording_stops_after_an_exception_in_the_block():
    a = kitty.ones(2, requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with CompGraph() as graph:
            a * 2
            1 / 0  # noqa: B018 - the error the block must survive
    assert not kitty._tracing.active_tracers() and _state.active.get() is None
    a + 1
    assert "label=add" not in graph.source


def test_nesting_raises():
    a = kitty.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="^CompGraph context manager does not support nesting.$"):
        with CompGraph(), CompGraph():
            a + 1
    outer = CompGraph()
    with outer:
        with pytest.raises(RuntimeError, match="nesting"):
            outer.__enter__()
        a * 2
    assert not kitty._tracing.active_tracers() and _state.active.get() is None
    assert outer.source.count("label=mul") == 1


def test_a_graph_can_record_again_after_its_block():
    a = kitty.ones(2, requires_grad=True)
    graph = CompGraph(require_leaves=False)
    with graph:
        b = a * 2
    with graph:
        b.exp()
    dot = parse_dot(graph.source)
    assert dot.one("mul") and dot.one("exp")
    assert dot.one("MulBackward\n(history not recorded)")  # the second block started mid-graph


# ----------------------------------------------------------------------------- starting mid-graph


def test_recording_from_the_middle_marks_the_cut_history():
    a = kitty.ones(2, requires_grad=True)
    b = a * 2  # recorded before the block
    with CompGraph(require_leaves=False) as graph:
        c = b + 1
    dot = parse_dot(graph.source)
    cut = dot.one("MulBackward\n(history not recorded)")
    assert dot.nodes[cut]["style"] == "rounded,filled,dashed" and colour(dot, cut) == BLUE
    b_box, = [t for (t, h) in dot.edges if h == dot.one("add") and dot.nodes[t]["label"] == "Tensor\n(2,)"]
    assert colour(dot, b_box) == BROWN
    assert dot.edges[b_box, cut]["style"] == "dashed"
    assert (dot.one("AddBackward"), cut) in dot.edges
    assert not dot.labelled("AccumulateGrad")  # nothing below the cut is drawn
    assert c.grad_fn is not None


def test_recording_from_the_middle_raises_the_original_error_by_default():
    a = kitty.ones(2, requires_grad=True)
    b = a * 2
    with pytest.raises(RuntimeError, match="^Visualization of the computational graph must be built "
                                           "starting from the leaves.$"):
        with CompGraph():
            b + 1
    assert not kitty._tracing.active_tracers() and _state.active.get() is None
    with CompGraph(require_leaves=True) as graph:  # from the leaves it draws as usual
        (a * 2).sum()
    assert "SumBackward" in graph.source
