"""Train an MLP on scikit-learn's 8x8 digits with kittygrad (the main job: `make run`).

    python examples/train_digits.py [--epochs 30] [--lr 0.001] [--hidden 128]
                                    [--optimizer {sgd,adam,adamw,rmsprop}] [--seed 0] [--out out]
                                    [--data PATH.npz] [--no-compile]

Writes into the output folder: ``training.png`` (loss and accuracy per epoch), ``model.npz`` (the
state dict, ``kitty.load`` reads it back) and ``graph.png`` (the backward graph of one training step,
drawn by kittygrad-viz). ``--data`` trains on the arrays ``x`` (samples along dim 0) and ``y``
(integer class labels) of a ``.npz`` file instead of the digits. The training step goes through
``kitty.compile`` (recorded once per batch shape, then replayed: the same results, bit for bit, as
``--no-compile``). BLAS runs on one thread unless ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` say
otherwise.
"""
from __future__ import annotations

import os

# The products here are tiny (a batch of 32 by 128 features): BLAS's worker threads cost more to wake
# than they save, and on a busy machine a step waits for a worker that is not scheduled (measured on a
# shared 2-core machine: 15-17 s of training with the default threads, 3-4 s with one).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import kittygrad as kitty  # noqa: E402
from kittygrad import nn  # noqa: E402
from kittygrad.utils.data import DataLoader, TensorDataset  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda params, lr: kitty.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda params, lr: kitty.optim.Adam(params, lr=lr),
    "adamw": lambda params, lr: kitty.optim.AdamW(params, lr=lr, weight_decay=1e-2),
    "rmsprop": lambda params, lr: kitty.optim.RMSprop(params, lr=lr),
}
DEFAULT_LR = {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3, "rmsprop": 1e-3}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (30)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: 0.05 for sgd, 0.002 for adam/adamw, 0.001 for rmsprop)")
    parser.add_argument("--hidden", type=int, default=128, help="width of the two hidden layers (128)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="(adam)")
    parser.add_argument("--batch-size", type=int, default=32, help="(32)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="record the training step once per batch shape and replay it (kitty.compile; "
                             "the same results as --no-compile, faster; default: on)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and shuffling (0)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder (out/)")
    parser.add_argument("--data", type=Path, default=None,
                        help="a .npz file with arrays x (samples) and y (integer labels) to train on")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.hidden < 1 or args.batch_size < 1:
        parser.error("--epochs, --hidden and --batch-size must be positive")
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    return args


def load_data(path: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Features as float32 rows and integer labels: the digits, or the user's ``x``/``y`` arrays."""
    if path is None:
        from sklearn.datasets import load_digits
        digits = load_digits()
        return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64), "digits"
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ("x", "y") if name not in archive.files]
            if missing:
                sys.exit(f"error: {path} lacks the array(s) {', '.join(missing)} (it has: "
                         f"{', '.join(archive.files) or 'nothing'}); --data needs x (samples) and y (labels)")
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError) as error:
        sys.exit(f"error: cannot read {path} as a .npz file: {error}")
    if len(x) != len(y) or len(x) < 2:
        sys.exit(f"error: {path}: x and y must hold the same number (>= 2) of samples, got {len(x)} and {len(y)}")
    if y.ndim != 1 or y.dtype.kind not in "iu" and not np.all(np.asarray(y) == np.round(y)):
        sys.exit(f"error: {path}: y must be a 1-D array of integer class labels")
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    scale = np.abs(x).max()
    return x / (scale if scale else 1.0), np.asarray(y).astype(np.int64), str(path)


def split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded, stratified 80/20 train/test split."""
    from sklearn.model_selection import train_test_split
    counts = np.bincount(y - y.min())
    stratify = y if counts[counts > 0].min() >= 2 else None
    return tuple(train_test_split(x, y, test_size=0.2, random_state=seed, stratify=stratify))


def make_model(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(features, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with kitty.no_grad():
        predicted = model(kitty.tensor(x)).numpy().argmax(axis=1)
    model.train()
    return float((predicted == y).mean())


def draw_step(loss: kitty.Tensor, model: nn.Module, out: Path) -> str:
    """The backward graph of one training step, via kittygrad-viz (skipped if it cannot draw yet).

    Returns the line to print; the caller prints it once the progress bar is gone, not across it.
    """
    try:
        import kittygrad_viz
    except ImportError:
        return "graph picture skipped: kittygrad-viz is not installed"
    draw = getattr(kittygrad_viz, "draw", None)
    if draw is None:
        return "graph picture skipped: this kittygrad_viz has no draw() yet"
    try:
        graph = draw(loss, params=dict(model.named_parameters()))
        path = graph.render(filename="graph", directory=str(out), format="png", cleanup=True)
        return f"graph of one training step: {path}"
    except Exception as error:  # e.g. Graphviz's `dot` missing: the training result still stands
        return f"graph picture skipped: {type(error).__name__}: {error}"


def plot(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = range(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["loss"], marker="o", markersize=3)
    left.set(title="training loss", xlabel="epoch", ylabel="cross entropy")
    right.plot(epochs, history["train_acc"], marker="o", markersize=3, label="train")
    right.plot(epochs, history["test_acc"], marker="o", markersize=3, label="test")
    right.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.01))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> float:
    from tqdm import tqdm

    args = parse_args(argv)
    started = time.perf_counter()
    x, y, name = load_data(args.data)
    x_train, x_test, y_train, y_test = split(x, y, args.seed)
    classes = int(y.max()) + 1
    kitty.manual_seed(args.seed)
    model = make_model(x.shape[1], args.hidden, classes)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), args.lr)
    scheduler = kitty.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(kitty.tensor(x_train), y_train), batch_size=args.batch_size,
                        shuffle=True, generator=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{name}: {len(x_train)} training and {len(x_test)} test samples, {x.shape[1]} features, "
          f"{classes} classes; {args.optimizer} lr={args.lr:g}, hidden={args.hidden}, seed={args.seed}")
    print(model)

    def train_step(inputs: kitty.Tensor, targets: np.ndarray) -> tuple[kitty.Tensor, kitty.Tensor]:
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, logits

    step = kitty.compile(train_step) if args.compile else train_step
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    graph_note = None
    for epoch in range(1, args.epochs + 1):
        total_loss = total_correct = seen = 0
        bar = tqdm(loader, desc=f"epoch {epoch:>3}/{args.epochs}", unit="batch", leave=False,
                   dynamic_ncols=True, file=sys.stdout)
        for inputs, targets in bar:
            if epoch == 1 and seen == 0:  # the graph is drawn before the backward: this step is eager
                logits = model(inputs)
                loss = loss_fn(logits, targets)
                graph_note = draw_step(loss, model, args.out)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:
                loss, logits = step(inputs, targets)
            total_loss += loss.item() * len(targets)
            total_correct += int((logits.numpy().argmax(axis=1) == targets).sum())
            seen += len(targets)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{total_correct / seen:.3f}", refresh=False)
        bar.close()
        scheduler.step()
        history["loss"].append(total_loss / seen)
        history["train_acc"].append(total_correct / seen)
        history["test_acc"].append(accuracy(model, x_test, y_test))
        print(f"epoch {epoch:>3}/{args.epochs}  loss {history['loss'][-1]:.4f}  "
              f"train acc {history['train_acc'][-1]:.4f}  test acc {history['test_acc'][-1]:.4f}")
        if graph_note is not None:  # after the bar and the epoch's line, not across the bar
            print(graph_note)
            graph_note = None

    test_accuracy = history["test_acc"][-1]
    plot(history, args.out / "training.png")
    kitty.save(model.state_dict(), args.out / "model.npz")
    print(f"wrote {args.out / 'training.png'} and {args.out / 'model.npz'}")
    print(f"final test accuracy: {test_accuracy:.2%} ({time.perf_counter() - started:.1f} s)")
    return test_accuracy


if __name__ == "__main__":
    main()
