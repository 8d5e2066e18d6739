"""kittygrad benchmarks: each case side by side with PyTorch (CPU) and hand-written NumPy, in one run.

BLAS and intra-op threads are pinned to 1 for NumPy and torch alike. Prints a table of medians and
writes ``benchmarks/results.json`` and ``benchmarks/results.md`` (included by ``docs/performance.md``).
Usage: ``python benchmarks/run.py [--quick]`` (``nox -s bench`` runs it).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kittygrad as kitty  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent


def median_time(step, repeats: int, inner: int = 1) -> float:
    """Median seconds per call of ``step`` over ``repeats`` timings of ``inner`` calls (after warm-up)."""
    for _ in range(max(1, inner // 10)):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


# ---------------------------------------------------------------- 1. small-op chain
# kittygrad and torch share one API, so each case is written once for both (`lib`).

def small_chain(lib):
    rng = np.random.default_rng(0)
    a = lib.tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)
    b = lib.tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        c = a * b + a
        d = (c.exp() * 0.5 - b).tanh()
        e = (d * d + c).sigmoid()
        e.sum().backward()
    return step


def small_chain_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    b = rng.standard_normal((4, 4)).astype(np.float32)

    def step():
        c = a * b + a
        ec = np.exp(c)
        u = ec * 0.5 - b
        d = np.tanh(u)
        v = d * d + c
        e = 1 / (1 + np.exp(-v))
        gv = e * (1 - e)                      # d sum(e) / dv
        gd = gv * 2 * d
        gc_ = gv.copy()
        gu = gd * (1 - d * d)
        gc_ += gu * 0.5 * ec
        gb = -gu
        ga = gc_ * b + gc_
        gb += gc_ * a
        return ga, gb
    return step


# ---------------------------------------------------------------- 2. MLP step

MLP_SIZES = (784, 512, 512, 10)
BATCH = 256


def _mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, MLP_SIZES[0])).astype(np.float32)
    y = rng.standard_normal((BATCH, MLP_SIZES[-1])).astype(np.float32)
    weights = [((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32))
               for i, o in zip(MLP_SIZES, MLP_SIZES[1:])]
    return x, y, weights


def mlp(lib):
    x_np, y_np, weights = _mlp_data()
    x, y = lib.tensor(x_np), lib.tensor(y_np)
    params = [(lib.tensor(w, requires_grad=True), lib.tensor(b, requires_grad=True)) for w, b in weights]

    def step():
        for w, b in params:
            w.grad = None
            b.grad = None
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = h.relu()
        loss = ((h - y) ** 2).mean()
        loss.backward()
    return step


def mlp_numpy():
    x, y, weights = _mlp_data()

    def step():
        acts, masks = [x], []
        h = x
        for i, (w, b) in enumerate(weights):
            h = h @ w + b
            if i < len(weights) - 1:
                mask = h > 0
                h = h * mask
                masks.append(mask)
            acts.append(h)
        diff = h - y
        _loss = (diff ** 2).mean()
        g = diff * (2.0 / diff.size)
        grads = []
        for i in range(len(weights) - 1, -1, -1):
            w, _ = weights[i]
            grads.append((acts[i].T @ g, g.sum(0)))
            if i:
                g = (g @ w.T) * masks[i - 1]
        return grads
    return step


# ---------------------------------------------------------------- 3. deep chain

def deep_chain(lib, n):
    def run():
        x0 = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x = x0
        for _ in range(n):
            x = x * 1.0001
        x.sum().backward()
    return run


def deep_chain_numpy(n):
    def run():
        x = np.array([1.0, 2.0, 3.0], np.float32)
        for _ in range(n):
            x = x * np.float32(1.0001)
        g = np.ones(3, np.float32)
        for _ in range(n):
            g = g * np.float32(1.0001)
    return run


# ---------------------------------------------------------------- 4. training

def _digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return x[:1437], digits.target[:1437].astype(np.int64)


def _digit_weights(seed=0):
    rng = np.random.default_rng(seed)
    sizes = (64, 128, 128, 10)
    return [((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32))
            for i, o in zip(sizes, sizes[1:])]


def train(lib, epochs=3, batch=32):
    """Trains the digits MLP (64-128-128-10, ReLU, Adam, cross entropy) for ``epochs``."""
    x, y = _digits()
    params = [p for w, b in _digit_weights() for p in (lib.tensor(w, requires_grad=True),
                                                        lib.tensor(b, requires_grad=True))]
    optimizer = lib.optim.Adam(params, lr=1e-3)
    cross_entropy = lib.nn.functional.cross_entropy
    target = torch.tensor if lib is torch else (lambda a: a)

    def run():
        order = np.random.default_rng(0).permutation(len(x))
        for _ in range(epochs):
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                h = lib.tensor(x[idx])
                for i in range(0, len(params), 2):
                    h = h @ params[i] + params[i + 1]
                    if i < len(params) - 2:
                        h = h.relu()
                loss = cross_entropy(h, target(y[idx]))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return run


def train_numpy(epochs=3, batch=32, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    x, y = _digits()
    params = [p.copy() for w, b in _digit_weights() for p in (w, b)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]

    def run():
        order = np.random.default_rng(0).permutation(len(x))
        step = 0
        for _ in range(epochs):
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                acts, h = [x[idx]], x[idx]
                for i in range(0, len(params), 2):
                    h = h @ params[i] + params[i + 1]
                    if i < len(params) - 2:
                        h = np.maximum(h, 0)
                    acts.append(h)
                shifted = h - h.max(1, keepdims=True)
                probs = np.exp(shifted)
                probs /= probs.sum(1, keepdims=True)
                g = probs
                g[np.arange(len(idx)), y[idx]] -= 1
                g /= len(idx)
                grads = [None] * len(params)
                for i in range(len(params) - 2, -1, -2):
                    grads[i], grads[i + 1] = acts[i // 2].T @ g, g.sum(0)
                    if i:
                        g = (g @ params[i].T) * (acts[i // 2] > 0)
                step += 1
                for p, grad, (m, v) in zip(params, grads, moments):
                    m *= betas[0]
                    m += (1 - betas[0]) * grad
                    v *= betas[1]
                    v += (1 - betas[1]) * grad * grad
                    m_hat = m / (1 - betas[0] ** step)
                    v_hat = v / (1 - betas[1] ** step)
                    p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return run


# ---------------------------------------------------------------- 5. memory

def peak_memory(make_step, steps: int) -> tuple[float, list[float]]:
    """Peak traced memory (MiB) over ``steps`` steps, and the traced memory after each step."""
    step = make_step()
    step()
    gc.collect()
    tracemalloc.start()
    after = []
    for _ in range(steps):
        step()
        after.append(tracemalloc.get_traced_memory()[0] / 2 ** 20)
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return peak, after


# ---------------------------------------------------------------- 6. import

def import_time(module: str, repeats: int) -> float:
    """Median wall time of importing ``module`` in a fresh interpreter, bytecode caches warm (as users
    have them: some CI environments set PYTHONDONTWRITEBYTECODE, which recompiles every module)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = lambda: float(subprocess.run([sys.executable, "-c", code], capture_output=True,  # noqa: E731
                                       text=True, check=True, env=env).stdout)
    run()  # writes the bytecode caches
    return statistics.median(run() for _ in range(repeats))


# ---------------------------------------------------------------- the run

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    print("kittygrad benchmarks: BLAS and torch threads pinned to 1 (OMP/OPENBLAS/MKL_NUM_THREADS=1, "
          "torch.set_num_threads(1))")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}")
    rows = []

    def case(name, unit, kitty_s, torch_s, numpy_s, target=None):
        row = dict(case=name, unit=unit, kittygrad=kitty_s, torch=torch_s, numpy=numpy_s,
                   kitty_over_torch=kitty_s / torch_s if torch_s else None,
                   kitty_over_numpy=kitty_s / numpy_s if numpy_s else None, target=target)
        rows.append(row)
        print(f"{name:<34} kitty {kitty_s:10.4g}  "
              f"torch {torch_s if torch_s is not None else float('nan'):10.4g}"
              f"  numpy {numpy_s if numpy_s is not None else float('nan'):10.4g}  {unit}")

    inner = 300 if args.quick else 2000
    case("small-op chain (4x4, fwd+bwd)", "s/step",
         median_time(small_chain(kitty), repeats, inner), median_time(small_chain(torch), repeats, inner),
         median_time(small_chain_numpy(), repeats, inner), "kitty/torch <= 0.6")
    inner = 5 if args.quick else 20
    case("MLP step 256x784-512-512-10", "s/step",
         median_time(mlp(kitty), repeats, inner), median_time(mlp(torch), repeats, inner),
         median_time(mlp_numpy(), repeats, inner), "kitty/numpy <= 1.05")
    n = 100_000
    case("deep chain 100,000 muls", "s",
         median_time(deep_chain(kitty, n), max(3, repeats // 2)),
         median_time(deep_chain(torch, n), max(3, repeats // 2)),
         median_time(deep_chain_numpy(n), max(3, repeats // 2)), "kitty/torch <= 1")
    start = time.perf_counter()
    deep_chain(kitty, 1_000_000)()
    case("deep chain 1,000,000 muls (kitty)", "s", time.perf_counter() - start, None, None, "completes")
    epochs = 1 if args.quick else 3
    case(f"digits MLP training, {epochs} epochs", "s",
         median_time(train(kitty, epochs), max(3, repeats // 2)),
         median_time(train(torch, epochs), max(3, repeats // 2)),
         median_time(train_numpy(epochs), max(3, repeats // 2)), "report")
    steps = 20 if args.quick else 100
    k_peak, k_after = peak_memory(lambda: mlp(kitty), steps)
    n_peak, n_after = peak_memory(mlp_numpy, steps)
    case("MLP step peak memory (tracemalloc)", "MiB", k_peak, None, n_peak, "kitty/numpy <= 1.2")
    half = len(k_after) // 2  # the first steps warm caches up (NumPy, ABCs); growth is steady-state
    case(f"MLP memory growth, steps {half}-{len(k_after)}", "MiB", k_after[-1] - k_after[half], None,
         n_after[-1] - n_after[half], "~0")
    case("import time", "s", import_time("kittygrad", repeats), import_time("torch", 3),
         import_time("numpy", repeats), "kitty <= numpy + 0.1 s")

    (HERE / "results.json").write_text(json.dumps(dict(rows=rows, python=platform.python_version(),
                                                       numpy=np.__version__, torch=torch.__version__,
                                                       cores=os.cpu_count()), indent=2))
    lines = ["| case | kittygrad | torch | NumPy | kitty/torch | kitty/NumPy | target |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    fmt = lambda v: "" if v is None else f"{v:.4g}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['case']} ({r['unit']}) | {fmt(r['kittygrad'])} | {fmt(r['torch'])} | "
                     f"{fmt(r['numpy'])} | {fmt(r['kitty_over_torch'])} | {fmt(r['kitty_over_numpy'])} | "
                     f"{r['target'] or ''} |")
    table = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(table)
    _update_docs(table)
    print(table)
    return 0


def _update_docs(table: str) -> None:
    """Puts the table between the result markers of docs/performance.md (the doc includes it)."""
    doc = HERE.parent / "docs" / "performance.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = doc.read_text() if doc.exists() else f"{start}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        doc.write_text(f"{head}{start}\n{_machine()}\n\n{table}{end}{rest.split(end, 1)[1]}")


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() \
        else platform.machine()
    return (f"Measured on {model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, torch {torch.__version__}; BLAS and torch pinned to 1 thread.")


if __name__ == "__main__":
    sys.exit(main())
