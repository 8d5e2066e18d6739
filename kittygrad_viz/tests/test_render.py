"""Rendering through Graphviz's `dot`, and the error when it is not installed."""
import pathlib

import graphviz
import pytest

import kittygrad_core as kitty
from kittygrad_viz import CompGraph, GraphvizNotFoundError, draw


@pytest.fixture
def readme_graph():
    a, b = kitty.randn(2, 2, 3)
    a.requires_grad = True
    with CompGraph() as dot:
        c = a + 42
        c **= 2
        _ = c * b
    return dot


def test_render_svg(readme_graph, tmp_path):
    path = readme_graph.render(str(tmp_path / "comp_graph"), format="svg", cleanup=True)
    assert path == str(tmp_path / "comp_graph.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comp_graph.svg"]  # cleanup removed the source
    svg = (tmp_path / "comp_graph.svg").read_text()
    assert "<svg" in svg
    for label in ("add", "pow_", "mul", "AddBackward", "PowBackward", "MulBackward", "AccumulateGrad",
                  "Tensor", "(2, 3)", "version 1", "42"):
        assert f">{label}<" in svg, label
    for colour in ("#7ba763", "#63473d", "#cdad56", "#22709a", "#a9d8ee"):
        assert colour in svg


def test_render_png_and_pdf_and_jupyter(readme_graph, tmp_path):
    png = readme_graph.render(str(tmp_path / "g"), format="png")
    pdf = readme_graph.render(str(tmp_path / "g"), format="pdf")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert open(pdf, "rb").read(5) == b"%PDF-"
    bundle = readme_graph._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]
    assert "MulBackward" in readme_graph.pipe(format="svg", encoding="utf-8")


def test_draw_renders(tmp_path):
    x = kitty.ones(2, requires_grad=True)
    path = draw((x * 2).sum(), params={"x": x}).render(str(tmp_path / "d"), format="svg")
    svg = open(path).read()
    assert ">SumBackward<" in svg and ">x<" in svg


def test_missing_dot_executable(readme_graph, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert "AccumulateGrad" in readme_graph.source  # building the graph needs no Graphviz
    calls = {"render": lambda: readme_graph.render(str(tmp_path / "g"), format="svg"),
             "pipe": lambda: readme_graph.pipe(format="svg"),
             "view": lambda: readme_graph.view(str(tmp_path / "v"), cleanup=True),
             "jupyter": lambda: readme_graph._repr_mimebundle_()}
    for name, call in calls.items():
        with pytest.raises(GraphvizNotFoundError) as info:
            call()
        message = str(info.value)
        assert "Graphviz" in message and "apt-get install graphviz" in message, name
        assert "brew install graphviz" in message, name
        assert isinstance(info.value, graphviz.ExecutableNotFound)  # what graphviz users catch
        assert isinstance(info.value.__cause__, graphviz.ExecutableNotFound)


def test_view_without_a_viewer_writes_the_file_and_warns_with_its_path(readme_graph, tmp_path, monkeypatch):
    # A machine without a display: Graphviz's `dot` is there, `xdg-open` is not.
    import shutil
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").symlink_to(shutil.which("dot"))
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"could not open a viewer for the graph \(.*\); it was written to "
                                         rf"{out / 'graph.gv.pdf'}$"):
        path = readme_graph.view(filename="graph.gv", directory=out, cleanup=True)
    assert path == str(out / "graph.gv.pdf") and pathlib.Path(path).read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in out.iterdir()) == ["graph.gv.pdf"]
