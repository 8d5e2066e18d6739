"""Train a small CNN on scikit-learn's 8x8 digits with kittygrad and the example plugin kittygrad-conv.

    python examples/train_digits_cnn.py [--epochs 30] [--lr 0.002] [--seed 0]

Same data and the same seeded, stratified 80/20 split as the MLP of ``examples/train_digits.py``
(its ``load_data`` and ``split`` are reused), so the two test accuracies compare directly.

The convolution ops come from ``examples/plugins/kittygrad-conv``. Installed (``pip install
examples/plugins/kittygrad-conv``), its entry point registers them when kittygrad is imported; if it is
not installed, this script registers the plugin module at runtime from the source tree, the way a
notebook would: ``kittygrad_core.plugins.add_plugin(kittygrad_conv.plugin, ...)``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import kittygrad as kitty
import kittygrad_core
from kittygrad import nn
from kittygrad.utils.data import DataLoader, TensorDataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train_digits import accuracy, load_data, split  # noqa: E402  (the MLP's data, split, metric)


def load_conv_plugin():
    """kittygrad_conv.nn, registering the plugin's ops at runtime if no installed entry point did."""
    try:
        import kittygrad_conv  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(HERE / "plugins" / "kittygrad-conv" / "src"))
    import kittygrad_conv.plugin
    if "conv2d" not in kittygrad_core.registry:
        kittygrad_core.plugins.add_plugin(kittygrad_conv.plugin, name="conv", distribution="kittygrad-conv",
                                          version=kittygrad_conv.__version__)
    import kittygrad_conv.nn
    return kittygrad_conv.nn


def make_model(conv_nn, classes: int) -> nn.Module:
    return nn.Sequential(
        conv_nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),   # 32 x 8 x 8
        conv_nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),  # 64 x 8 x 8
        conv_nn.MaxPool2d(2),                             # 64 x 4 x 4
        nn.Flatten(), nn.Dropout(0.25),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
        nn.Linear(128, classes),
    )


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (30)")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate (0.002)")
    parser.add_argument("--batch-size", type=int, default=32, help="(32)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and shuffling (0)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    conv_nn = load_conv_plugin()
    x, y, name = load_data(None)
    x_train, x_test, y_train, y_test = split(x, y, args.seed)
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)  # NCHW
    classes = int(y.max()) + 1
    kitty.manual_seed(args.seed)
    model = make_model(conv_nn, classes)
    optimizer = kitty.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = kitty.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(kitty.tensor(x_train), y_train), batch_size=args.batch_size,
                        shuffle=True, generator=args.seed)
    print(f"{name}: {len(x_train)} training and {len(x_test)} test samples of 1x8x8, {classes} classes; "
          f"adam lr={args.lr:g}, seed={args.seed}")
    print(model)

    for epoch in range(1, args.epochs + 1):
        total_loss = total_correct = seen = 0
        for inputs, targets in loader:
            logits = model(inputs)
            loss = loss_fn(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(targets)
            total_correct += int((logits.numpy().argmax(axis=1) == targets).sum())
            seen += len(targets)
        scheduler.step()
        print(f"epoch {epoch:>3}/{args.epochs}  loss {total_loss / seen:.4f}  train acc "
              f"{total_correct / seen:.4f}  test acc {accuracy(model, x_test, y_test):.4f}", flush=True)

    test_accuracy = accuracy(model, x_test, y_test)
    print(f"final test accuracy: {test_accuracy:.2%} ({time.perf_counter() - started:.1f} s)")
    return test_accuracy


if __name__ == "__main__":
    main()
