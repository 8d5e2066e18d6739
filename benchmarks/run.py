"""kittygrad benchmarks: each case side by side with PyTorch (CPU) and hand-written NumPy, in one run.

BLAS and intra-op threads are pinned to 1 for NumPy and torch alike. Prints a table of medians and
writes ``benchmarks/results.json`` and ``benchmarks/results.md`` (included by ``docs/performance.md``).
Usage: ``python benchmarks/run.py [--quick] [--compiled DIR]`` (``nox -s bench`` runs it with the
compiled build of kittygrad-core installed in DIR, for a column per build).
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
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kittygrad as kitty  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent


# Wall time by default; --clock cpu measures the process's CPU time instead (time.process_time), which
# a shared, loaded machine disturbs far less (every case runs on one thread).
CLOCK = time.perf_counter


def median_time(step, repeats: int, inner: int = 1) -> float:
    """Median seconds per call of ``step`` over ``repeats`` timings of ``inner`` calls (after warm-up)."""
    for _ in range(max(1, inner // 10)):
        step()
    times = []
    for _ in range(repeats):
        start = CLOCK()
        for _ in range(inner):
            step()
        times.append((CLOCK() - start) / inner)
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


def train(lib, epochs=3, batch=32, compiled=False):
    """Trains the digits MLP (64-128-128-10, ReLU, Adam, cross entropy) for ``epochs``; ``compiled``:
    the training step goes through ``kitty.compile`` (the last, smaller batch is a second signature)."""
    x, y = _digits()
    params = [p for w, b in _digit_weights() for p in (lib.tensor(w, requires_grad=True),
                                                        lib.tensor(b, requires_grad=True))]
    optimizer = lib.optim.Adam(params, lr=1e-3)
    cross_entropy = lib.nn.functional.cross_entropy
    target = torch.tensor if lib is torch else (lambda a: a)

    def train_step(inputs, targets):
        h = inputs
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = h.relu()
        loss = cross_entropy(h, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    step = kitty.compile(train_step) if compiled else train_step

    def run():
        order = np.random.default_rng(0).permutation(len(x))
        for _ in range(epochs):
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                step(lib.tensor(x[idx]), target(y[idx]))
    run.params = params  # for the check that the compiled training equals the eager one
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
                sums = probs.sum(1, keepdims=True)
                rows = np.arange(len(idx)), y[idx]
                _loss = np.log(sums).mean() - shifted[rows].mean()  # the loss, as the other columns compute it
                probs /= sums
                g = probs
                g[rows] -= 1
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
# kittygrad runs in child processes, one per build (a process holds one build of kittygrad_core): the
# pure one (the installed sources) and, with --compiled DIR, the compiled one installed in DIR. Each
# child imports torch too, so the garbage collector walks the same objects as in the parent. The timed
# cases are measured in rounds that visit every column in turn (pure, compiled, torch, NumPy), so that
# a change in the machine's load hits all columns alike; each cell is the median over the rounds.

CASES = (  # key, name, unit, target
    ("small", "small-op chain (4x4, fwd+bwd)", "s/step", "kitty/torch <= 0.6 (compiled), 0.85 (pure)"),
    ("mlp", "MLP step 256x784-512-512-10", "s/step", "kitty/numpy <= 1.05"),
    ("deep", "deep chain 100,000 muls", "s", "kitty/torch <= 0.7"),
    ("deep1m", "deep chain 1,000,000 muls (kitty)", "s", "completes"),
    ("train", "digits MLP training, 3 epochs", "s", "report"),
    ("peak", "MLP step peak memory (tracemalloc)", "MiB", "kitty/numpy <= 1.2"),
    ("growth", "MLP memory growth, second half of the steps", "MiB", "~0"),
    ("import", "import time", "s", "kitty <= numpy + 0.1 s"),
)
TIMED = ("small", "mlp", "deep", "train")
# The cases also measured through kitty.compile (columns "<build>+compile"), with the reference column
# and the ceiling of issue 15 (docs/compile.md)
COMPILED = {"small": ("torch", 0.3), "mlp": ("numpy", 1.02), "train": ("numpy", 1.25)}


def _steps(lib, quick: bool) -> dict[str, tuple[Any, int]]:
    """The timed cases' steps for ``lib`` (kittygrad, torch or None for NumPy), with their inner counts;
    for kittygrad also the compiled ones (``"small+compile"``, ...): each compiled function is built
    once here, the warm-up calls record it and the timed calls replay it."""
    epochs = 1 if quick else 3
    inner_small, inner_mlp = (300, 5) if quick else (2000, 20)
    if lib is None:
        return dict(small=(small_chain_numpy(), inner_small), mlp=(mlp_numpy(), inner_mlp),
                    deep=(deep_chain_numpy(100_000), 1), train=(train_numpy(epochs), 1))
    steps = dict(small=(small_chain(lib), inner_small), mlp=(mlp(lib), inner_mlp),
                 deep=(deep_chain(lib, 100_000), 1), train=(train(lib, epochs), 1))
    if lib is kitty:
        steps.update({"small+compile": (kitty.compile(small_chain(lib)), inner_small),
                      "mlp+compile": (kitty.compile(mlp(lib)), inner_mlp),
                      "train+compile": (train(lib, epochs, compiled=True), 1)})
    return steps


def _one_timing(step, inner: int) -> float:
    start = CLOCK()
    for _ in range(inner):
        step()
    return (CLOCK() - start) / inner


def serve(quick: bool) -> None:
    """The child's loop: one request per line on stdin ("warm CASE", "time CASE" or "extras"), one
    JSON answer per line on stdout."""
    steps = _steps(kitty, quick)
    for line in sys.stdin:
        command, _, case = line.strip().partition(" ")
        if command == "warm":
            step, inner = steps[case]
            for _ in range(max(1, inner // 10)):
                step()
            answer: Any = None
            if case == "train+compile":  # one run each from the same start: the same parameters, bit for bit
                eager = steps["train"][0]
                if any(a.numpy().tobytes() != b.numpy().tobytes() for a, b in zip(eager.params, step.params)):
                    raise SystemExit("the compiled digits training differs from the eager one")
        elif command == "time":
            answer = _one_timing(*steps[case])
        elif command == "extras":
            start = CLOCK()
            deep_chain(kitty, 1_000_000)()
            answer = {"deep1m": CLOCK() - start}
            peak, after = peak_memory(lambda: mlp(kitty), 20 if quick else 100)
            half = len(after) // 2  # the first steps warm caches up (NumPy, ABCs); growth is steady-state
            answer.update(peak=peak, growth=after[-1] - after[half],
                          **{"import": import_time("kittygrad", 3 if quick else 7)})
        elif command == "build":
            import kittygrad_core
            answer = list(kittygrad_core.COMPILED)
        else:
            raise SystemExit(f"unknown request {line!r}")
        print(json.dumps(answer), flush=True)


class Child:
    """A child process measuring one build of kittygrad."""

    def __init__(self, quick: bool, clock: str, compiled: str | None) -> None:
        env = dict(os.environ)
        if compiled:
            env["PYTHONPATH"] = os.pathsep.join([compiled, *filter(None, [env.get("PYTHONPATH")])])
        command = [sys.executable, __file__, "--serve", "--clock", clock, *(["--quick"] if quick else [])]
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self.modules = tuple(self.ask("build"))
        if bool(self.modules) != bool(compiled):
            raise SystemExit(f"expected the {'compiled' if compiled else 'pure'} build, the child runs "
                             f"compiled modules {self.modules}")

    def ask(self, request: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the benchmark child stopped (request {request!r})")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def measure(children: dict[str, Child], quick: bool) -> dict[str, dict[str, float | None]]:
    """Every case for every column: the builds (in their children), torch and NumPy (here)."""
    repeats = 3 if quick else 7
    local = {"torch": _steps(torch, quick), "numpy": _steps(None, quick)}
    results: dict[str, dict[str, float | None]] = {key: {} for key, *_ in CASES}
    for case in TIMED:
        rounds = repeats if case != "deep" else max(3, repeats // 2)
        remote = [(build, case) for build in children]
        if case in COMPILED:
            remote += [(f"{build}+compile", f"{case}+compile") for build in children]
        for column, request in remote:
            children[column.partition("+")[0]].ask(f"warm {request}")
        for step, inner in (local["torch"][case], local["numpy"][case]):
            for _ in range(max(1, inner // 10)):
                step()
        times: dict[str, list[float]] = {column: [] for column in (*(c for c, _ in remote), "torch", "numpy")}
        for _ in range(rounds):
            for column, request in remote:
                times[column].append(children[column.partition("+")[0]].ask(f"time {request}"))
            for column in ("torch", "numpy"):
                times[column].append(_one_timing(*local[column][case]))
        results[case] = {column: statistics.median(values) for column, values in times.items()}
        print(f"{case}: " + "  ".join(f"{column} {value:.4g}" for column, value in results[case].items()))
    for build, child in children.items():
        for key, value in child.ask("extras").items():
            results[key][build] = value
    n_peak, n_after = peak_memory(mlp_numpy, 20 if quick else 100)
    half = len(n_after) // 2
    results["peak"].update(torch=None, numpy=n_peak)
    results["growth"].update(torch=None, numpy=n_after[-1] - n_after[half])
    results["deep1m"].update(torch=None, numpy=None)
    results["import"].update(torch=import_time("torch", 3), numpy=import_time("numpy", repeats))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--compiled", metavar="DIR", help="a directory holding a compiled kittygrad_core "
                        "(pip install --target DIR): adds a column for the compiled build")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what the timings measure: wall time, or the process's CPU time (one thread)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.serve:
        serve(args.quick)
        return 0
    import kittygrad_core
    if kittygrad_core.COMPILED:
        raise SystemExit("run the benchmarks from the pure (editable) install; --compiled adds the other build")
    print("kittygrad benchmarks: BLAS and torch threads pinned to 1 (OMP/OPENBLAS/MKL_NUM_THREADS=1, "
          f"torch.set_num_threads(1)); {args.clock} time")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}")
    children = {"pure": Child(args.quick, args.clock, None)}
    if args.compiled:
        children["compiled"] = Child(args.quick, args.clock, args.compiled)
        print(f"compiled build: modules {', '.join(children['compiled'].modules)}")
    try:
        results = measure(children, args.quick)
    finally:
        for child in children.values():
            child.close()
    names = list(children)

    rows = []
    for key, name, unit, target in CASES:
        torch_s, numpy_s = results[key]["torch"], results[key]["numpy"]
        row = dict(case=name, unit=unit, target=target, torch=torch_s, numpy=numpy_s)
        for build in names:
            value = results[key][build]
            row[build] = value
            row[f"{build}_over_torch"] = value / torch_s if value is not None and torch_s else None
            row[f"{build}_over_numpy"] = value / numpy_s if value is not None and numpy_s else None
        rows.append(row)

    names_of = {key: name for key, name, *_ in CASES}
    compiled_rows = []
    for key, (reference, ceiling) in COMPILED.items():
        ref = results[key][reference]
        row = dict(case=names_of[key], reference=reference, target=ceiling, torch=results[key]["torch"],
                   numpy=results[key]["numpy"])
        for build in names:
            row[build], row[f"{build}+compile"] = results[key][build], results[key][f"{build}+compile"]
            row[f"{build}+compile_over_{reference}"] = results[key][f"{build}+compile"] / ref if ref else None
        compiled_rows.append(row)

    (HERE / "results.json").write_text(json.dumps(dict(rows=rows, compile_rows=compiled_rows, builds=names,
                                                       clock=args.clock, python=platform.python_version(),
                                                       numpy=np.__version__, torch=torch.__version__,
                                                       cores=os.cpu_count()), indent=2))
    header = ["case", *names, "torch", "NumPy", *(f"{b}/torch" for b in names), *(f"{b}/NumPy" for b in names),
              "target"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 2) + " --- |"]
    fmt = lambda v: "" if v is None else f"{v:.4g}"  # noqa: E731
    for r in rows:
        cells = [f"{r['case']} ({r['unit']})", *(fmt(r[b]) for b in names), fmt(r["torch"]), fmt(r["numpy"]),
                 *(fmt(r[f"{b}_over_torch"]) for b in names), *(fmt(r[f"{b}_over_numpy"]) for b in names),
                 r["target"]]
        lines.append("| " + " | ".join(cells) + " |")
    # kitty.compile: eager and compiled side by side per build, the ratio against issue 15's reference
    header = ["case (kitty.compile)", *(c for b in names for c in (b, f"{b}+compile")), "torch", "NumPy",
              *(f"{b}+compile/reference" for b in names), "target"]
    lines += ["", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 2) + " --- |"]
    for r in compiled_rows:
        reference = "torch" if r["reference"] == "torch" else "NumPy"
        cells = [r["case"], *(fmt(r[c]) for b in names for c in (b, f"{b}+compile")), fmt(r["torch"]),
                 fmt(r["numpy"]), *(fmt(r[f"{b}+compile_over_{r['reference']}"]) for b in names),
                 f"compile/{reference} <= {r['target']}"]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(table)
    _update_docs(table, names, args.clock)
    print(table)
    return 0


def _update_docs(table: str, builds: list[str], clock: str) -> None:
    """Puts the table between the result markers of docs/performance.md (the doc includes it)."""
    doc = HERE.parent / "docs" / "performance.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = doc.read_text() if doc.exists() else f"{start}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        doc.write_text(f"{head}{start}\n{_machine(builds, clock)}\n\n{table}{end}{rest.split(end, 1)[1]}")


def _machine(builds: list[str], clock: str) -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() \
        else platform.machine()
    return (f"Measured on {model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, torch {torch.__version__}; BLAS and torch pinned to 1 thread; "
            f"kittygrad builds: {', '.join(builds)} (one child process each); "
            f"{'CPU' if clock == 'cpu' else 'wall'} time.")


if __name__ == "__main__":
    sys.exit(main())
