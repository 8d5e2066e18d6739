"""The main job, examples/train_digits.py: a short run, its outputs, and its --data errors."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_run_writes_outputs(script, tmp_path, capsys):
    accuracy = script.main(["--epochs", "3", "--out", str(tmp_path), "--optimizer", "sgd"])
    assert accuracy > 0.85
    assert (tmp_path / "training.png").stat().st_size > 0
    state = __import__("kittygrad").load(tmp_path / "model.npz")
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    out = capsys.readouterr().out
    assert "final test accuracy" in out
    # the graph's line comes after epoch 1's bar is closed and its summary printed, on a line of its own
    assert re.search(r"(?:^|\r)epoch   1/3  loss [^\r\n]* test acc \d\.\d{4}\n"
                     r"(graph of one training step|graph picture skipped)", out, re.MULTILINE), out


def test_compiled_run_matches_the_eager_one(script, tmp_path, capsys):
    assert script.parse_args([]).compile and not script.parse_args(["--no-compile"]).compile  # on by default
    eager = script.main(["--epochs", "2", "--out", str(tmp_path / "eager"), "--no-compile"])
    eager_lines = re.findall(r"epoch +\d+/2  loss .*", capsys.readouterr().out)
    compiled = script.main(["--epochs", "2", "--out", str(tmp_path / "compiled")])
    compiled_lines = re.findall(r"epoch +\d+/2  loss .*", capsys.readouterr().out)
    assert compiled == eager and len(eager_lines) == 2
    assert compiled_lines == eager_lines
    weights = [__import__("kittygrad").load(tmp_path / name / "model.npz") for name in ("eager", "compiled")]
    assert all(np.array_equal(weights[0][k].numpy(), weights[1][k].numpy()) for k in weights[0])


def test_user_data(script, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2, 3)).astype("float32")
    y = (x.reshape(200, -1).sum(1) > 0).astype(int)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    accuracy = script.main(["--data", str(tmp_path / "mine.npz"), "--epochs", "5", "--out", str(tmp_path)])
    assert accuracy > 0.8


def test_user_data_without_arrays_is_a_clear_error(script, tmp_path):
    np.savez(tmp_path / "bad.npz", features=np.ones((4, 2)))
    with pytest.raises(SystemExit, match="lacks the array\\(s\\) x, y"):
        script.main(["--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path)])
