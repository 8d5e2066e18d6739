"""nn.init statistics, DataLoader, and save/load without pickle."""
from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

import kittygrad_core as kitty
import kittygrad_nn as nn
from kittygrad_nn import init, optim
from kittygrad_nn.data import DataLoader, TensorDataset
from kittygrad_nn.serialization import load, save

# ---------------------------------------------------------------------------------------------- init


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                                ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                                ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param))


@pytest.mark.parametrize("name,kwargs,expected_std,bound", [
    ("uniform_", {"a": -2.0, "b": 4.0}, 6 / math.sqrt(12), (-2.0, 4.0)),
    ("normal_", {"mean": 1.0, "std": 0.5}, 0.5, None),
    ("xavier_uniform_", {"gain": 2.0}, 2.0 * math.sqrt(2 / (300 + 200)), 2.0 * math.sqrt(6 / 500)),
    ("xavier_normal_", {}, math.sqrt(2 / 500), None),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2 / 300), math.sqrt(6 / 300)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 200), None),
])
def test_init_statistics(name, kwargs, expected_std, bound):
    t = kitty.empty(200, 300)
    version = t.version
    assert getattr(init, name)(t, **kwargs) is t
    assert t.version == version + 1
    values = t.numpy()
    assert abs(values.std() - expected_std) < 0.02 * expected_std
    if bound is not None:
        low, high = bound if isinstance(bound, tuple) else (-bound, bound)
        assert values.min() >= low and values.max() <= high
    expected_mean = kwargs.get("mean", (kwargs["a"] + kwargs["b"]) / 2 if "a" in kwargs else 0.0)
    assert abs(values.mean() - expected_mean) < 0.05 * expected_std + 1e-3


def test_init_is_reproducible_in_place_and_works_on_parameters():
    p = nn.Parameter(kitty.empty(3, 4))
    kitty.manual_seed(7)
    init.kaiming_uniform_(p, a=math.sqrt(5))
    first = p.numpy().copy()
    kitty.manual_seed(7)
    init.kaiming_uniform_(p, a=math.sqrt(5))
    np.testing.assert_array_equal(p.numpy(), first)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    init.constant_(p, 0.25)
    assert np.all(p.numpy() == 0.25)
    init.zeros_(p), init.ones_(p)
    assert np.all(p.numpy() == 1)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(kitty.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")

# ---------------------------------------------------------------------------------------------- data


def test_dataloader_batches_shuffle_and_drop_last():
    x = kitty.tensor(np.arange(20, dtype="float32").reshape(10, 2))
    y = np.arange(10)
    dataset = TensorDataset(x, y)
    assert len(dataset) == 10
    sample_x, sample_y = dataset[3]
    np.testing.assert_array_equal(sample_x.numpy(), [6, 7])
    assert sample_y == 3
    loader = DataLoader(dataset, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], kitty.Tensor) and isinstance(batches[0][1], np.ndarray)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    dropping = DataLoader(dataset, batch_size=4, drop_last=True)
    assert len(dropping) == 2 and [len(b[1]) for b in dropping] == [4, 4]
    shuffled = DataLoader(dataset, batch_size=3, shuffle=True, generator=0)
    first, second = [np.concatenate([b[1] for b in shuffled]) for _ in range(2)]
    assert sorted(first) == list(range(10)) and not np.array_equal(first, second)  # a new order per epoch
    np.testing.assert_array_equal(first, np.concatenate([b[1] for b in
                                                         DataLoader(dataset, batch_size=3, shuffle=True, generator=0)]))
    for bx, by in shuffled:
        np.testing.assert_array_equal(bx.numpy()[:, 0], 2 * by)  # features stay with their labels
    kitty.manual_seed(5)
    a = np.concatenate([b[1] for b in DataLoader(dataset, batch_size=4, shuffle=True)])
    kitty.manual_seed(5)
    b = np.concatenate([b[1] for b in DataLoader(dataset, batch_size=4, shuffle=True)])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, np.arange(3))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset, batch_size=0)


def test_dataloader_default_collate_for_plain_datasets():
    class Squares(nn.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return kitty.tensor([float(i)]), i * i

    xs, ys = next(iter(DataLoader(Squares(), batch_size=5)))
    assert xs.shape == (5, 1) and list(ys) == [0, 1, 4, 9, 16]

# ---------------------------------------------------------------------------------------------- save / load


def test_save_load_nested_state_without_pickle(tmp_path):
    kitty.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    model(kitty.randn(5, 3)).sum().backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
                  "name": "mlp", "history": [0.5, 0.25], "shape": (2, 3), "none": None,
                  "array": np.arange(3), "scalar": np.float64(1.5), 7: True}
    path = tmp_path / "checkpoint.pt"  # any name: nothing is appended to it
    save(checkpoint, path)
    assert path.exists()
    with np.load(path, allow_pickle=False) as archive:  # a plain npz, readable without pickle
        assert "__kittygrad_structure__" in archive.files
    loaded = load(path)
    assert loaded["epoch"] == 3 and loaded["name"] == "mlp" and loaded["history"] == [0.5, 0.25]
    assert loaded["shape"] == (2, 3) and loaded["none"] is None and loaded[7] is True
    np.testing.assert_array_equal(loaded["array"], np.arange(3))
    assert loaded["scalar"] == 1.5 and isinstance(loaded["scalar"], np.float64)
    assert list(loaded["model"]) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert isinstance(loaded["model"][key], kitty.Tensor)
        np.testing.assert_array_equal(loaded["model"][key].numpy(), value.numpy())
        assert loaded["model"][key].dtype == value.dtype
    assert set(loaded["optimizer"]["state"]) == {0, 1, 2, 3, 4, 5}  # int keys survive
    clone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    clone.load_state_dict(loaded["model"])
    clone_optimizer = optim.Adam(clone.parameters())
    clone_optimizer.load_state_dict(loaded["optimizer"])
    x = kitty.randn(2, 3)
    model.eval(), clone.eval()
    np.testing.assert_array_equal(model(x).numpy(), clone(x).numpy())


def test_save_load_file_objects():
    buffer = io.BytesIO()
    save(OrderedDict(w=kitty.tensor([1.0, 2.0], dtype=kitty.float64)), buffer)
    buffer.seek(0)
    loaded = load(buffer)
    assert loaded["w"].dtype == np.float64 and loaded["w"].tolist() == [1.0, 2.0]


def test_save_rejects_objects_and_load_rejects_pickles(tmp_path):
    with pytest.raises(TypeError, match="cannot save"):
        save({"f": lambda: 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="cannot save an array of dtype object"):
        save({"o": np.array([object()])}, tmp_path / "x.npz")
    path = tmp_path / "evil.npz"
    np.savez(path, __kittygrad_structure__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load(path)
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a file written by kittygrad.save"):
        load(tmp_path / "other.npz")


# ---------------------------------------------------------------------------------------------- load: untrusted files

def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _crafted(structure, compress=False, raw=None, **arrays):
    """An archive like save()'s, with a hand-written structure entry and arrays (or raw members)."""
    text = structure if isinstance(structure, str) else json.dumps(structure)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        archive.writestr("__kittygrad_structure__.npy", _npy(np.array(text)))
        for name, array in arrays.items():
            archive.writestr(name + ".npy", _npy(array))
        for name, data in (raw or {}).items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "crafted.pt"
    return buffer


def _tensor_root(ref="a0"):
    return {"format": 1, "root": {"tensor": ref, "requires_grad": False}}


MALFORMED = {
    "wrong node key": ({"format": 1, "root": {"tensr": "a0"}}, {}, "root has keys \\['tensr'\\]"),
    "missing requires_grad": ({"format": 1, "root": {"tensor": "a0"}}, {"a0": np.ones(2, np.float32)},
                              "root has keys \\['tensor'\\]"),
    "no root": ({"format": 1}, {}, "must be an object with 'format' and 'root'"),
    "not an object": ([1, 2], {}, "must be an object"),
    "bad json": ("{nope", {}, "not valid JSON"),
    "future format": ({"format": 2, "root": {"value": 1}}, {}, "unsupported format 2"),
    "missing array": (_tensor_root("a7"), {}, "refers to array 'a7', which the file does not hold"),
    "structure as array": (_tensor_root("__kittygrad_structure__"), {}, "does not hold"),
    "shared array": ({"format": 1, "root": {"list": [{"array": "a0", "scalar": False}] * 2}},
                     {"a0": np.ones(3)}, "root\\[1\\] refers to array 'a0' a second time"),
    "bad dict entry": ({"format": 1, "root": {"dict": [["str", "k"]]}}, {}, "is not a \\[\\[kind, key\\], value\\]"),
    "unknown key kind": ({"format": 1, "root": {"dict": [[["code", "k"], {"value": 1}]]}}, {}, "kind in"),
    "key of wrong kind": ({"format": 1, "root": {"dict": [[["int", "k"], {"value": 1}]]}}, {},
                          "key 'k' does not have kind 'int'"),
    "list not a list": ({"format": 1, "root": {"list": {"a": 1}}}, {}, "'list' must be a list"),
    "value is an object": ({"format": 1, "root": {"value": {"a": 1}}}, {}, "'value' must be"),
    "integer tensor": (_tensor_root(), {"a0": np.ones(2, np.int64)}, "a tensor must hold floats"),
    "scalar of shape (2,)": ({"format": 1, "root": {"array": "a0", "scalar": True}}, {"a0": np.ones(2)},
                             "0-d array"),
    "requires_grad not bool": ({"format": 1, "root": {"tensor": "a0", "requires_grad": "yes"}},
                               {"a0": np.ones(2, np.float32)}, "'requires_grad' must be true or false"),
    "deep nesting (json)": ('{"format": 1, "root": ' + '{"list": [' * 5000 + "]}" * 5000 + "}", {},
                            "nested too deeply"),
    "deep nesting (structure)": ('{"format": 1, "root": ' + '{"list": [' * 150 + "]}" * 150 + "}", {},
                                 "nested more than 100 levels deep"),
    "pickled object array": ({"format": 1, "root": {"array": "a0", "scalar": False}},
                             {"a0": np.array([{"x": 1}], dtype=object)}, "pickled data.*allow_pickle=False"),
    "string array": ({"format": 1, "root": {"array": "a0", "scalar": False}}, {"a0": np.array(["x"])},
                     "dtype <U1, which save\\(\\) never writes"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_load_refuses_malformed_files_with_a_clear_error(case):
    structure, arrays, message = MALFORMED[case]
    with pytest.raises(ValueError, match="load\\(\\): 'crafted.pt'.*" + message):
        load(_crafted(structure, **arrays))


def test_load_refuses_non_archives_and_damaged_ones(tmp_path):
    for name, content in {"text": b"hello", "empty": b"", "pickle": pickle.dumps({"a": 1}),
                          "npy": _npy(np.ones(3))}.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=f"load\\(\\): '.*{name}' is not a file written by kittygrad.save"):
            load(path)
    whole = _crafted({"format": 1, "root": {"value": 1}}).getvalue()
    with pytest.raises(ValueError, match="corrupted or truncated"):
        load(io.BytesIO(whole[: len(whole) // 2]))
    short = io.BytesIO()  # a header declaring a million floats, followed by 16 bytes
    np.lib.format.write_array_header_1_0(short, {"descr": "<f4", "fortran_order": False, "shape": (10**6,)})
    with pytest.raises(ValueError, match="corrupted or truncated.*EOF"):
        load(_crafted(_tensor_root(), raw={"a0.npy": short.getvalue() + bytes(16)}))
    with pytest.raises(ValueError, match="entry 'junk'"):  # a member that is not an array at all
        load(_crafted({"format": 1, "root": {"value": 1}}, raw={"junk": bytes(1000)}))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")


def test_load_limits_the_declared_size_before_reading(monkeypatch):
    from kittygrad_nn import serialization
    assert serialization.MAX_BYTES == 1 << 28
    bomb = _crafted(_tensor_root(), compress=True, a0=np.zeros(100_000_000, np.float32))
    assert len(bomb.getvalue()) < 1_000_000  # 400 MB of zeros in under 1 MB
    with pytest.raises(ValueError, match="declares arrays of 400000\\d+ bytes.*max_bytes=268435456"):
        load(bomb)
    bomb.seek(0)
    with pytest.raises(ValueError, match="max_bytes=1000"):
        load(bomb, max_bytes=1000)
    declared = io.BytesIO()  # 4 TB declared, 16 bytes present: refused from the header alone
    np.lib.format.write_array_header_1_0(declared, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with pytest.raises(ValueError, match="4000000000\\d+ bytes"):
        load(_crafted(_tensor_root(), raw={"a0.npy": declared.getvalue() + bytes(16)}))
    small = io.BytesIO()
    save({"w": kitty.ones(10, 10)}, small)  # 400 bytes of data
    small.seek(0)
    assert load(small, max_bytes=1000)["w"].shape == (10, 10)
    small.seek(0)
    with pytest.raises(ValueError, match="max_bytes=399"):
        load(small, max_bytes=399)
    monkeypatch.setattr(serialization, "MAX_BYTES", 100)  # the module-level default applies to every call
    small.seek(0)
    with pytest.raises(ValueError, match="max_bytes=100"):
        load(small)
    with pytest.raises(TypeError, match="max_bytes must be a non-negative int"):
        load(small, max_bytes=-1)


def test_save_refuses_nesting_that_load_would_refuse():
    nested: list = []
    for _ in range(150):
        nested = [nested]
    with pytest.raises(ValueError, match="nested more than 100 levels"):
        save(nested, io.BytesIO())
    ok: list = []
    for _ in range(99):
        ok = [ok]
    buffer = io.BytesIO()
    save(ok, buffer)
    buffer.seek(0)
    assert load(buffer) == ok
