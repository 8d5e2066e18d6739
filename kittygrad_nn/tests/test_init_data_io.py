"""nn.init statistics, DataLoader, and save/load without pickle."""
from __future__ import annotations

import io
import math
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
    np.testing.assert_array_equal(sample_x.numpy(), [6, 7]) and sample_y == 3
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
    np.testing.assert_array_equal(loaded["array"], np.arange(3)) and loaded["scalar"] == 1.5
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
