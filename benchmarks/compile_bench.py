"""``kitty.compile`` side by side with eager kittygrad, torch eager and hand-written NumPy, in one run.

Cases from ``run.py``: the small-op chain (4x4, forward and backward) and the MLP step
(256x784-512-512-10, forward and backward); tests/test_compile.py holds compiled steps bit-identical
to eager ones. Usage: ``python benchmarks/compile_bench.py [--quick]``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run  # noqa: E402  # pins BLAS threads before NumPy loads
import torch  # noqa: E402

import kittygrad as kitty  # noqa: E402


def main() -> int:
    quick = "--quick" in sys.argv
    repeats = 5 if quick else 15
    torch.set_num_threads(1)
    rows = []
    inner = 300 if quick else 2000
    small = {
        "torch eager": run.small_chain(torch),
        "numpy (hand)": run.small_chain_numpy(),
        "kitty eager": run.small_chain(kitty),
        "kitty compiled": kitty.compile(run.small_chain(kitty)),
    }
    rows.append(("small-op chain 4x4 fwd+bwd", {k: run.median_time(f, repeats, inner) for k, f in small.items()}))
    inner = 5 if quick else 20
    mlp = {
        "torch eager": run.mlp(torch),
        "numpy (hand)": run.mlp_numpy(),
        "kitty eager": run.mlp(kitty),
        "kitty compiled": kitty.compile(run.mlp(kitty)),
    }
    rows.append(("MLP step 256x784-512-512-10", {k: run.median_time(f, repeats, inner) for k, f in mlp.items()}))
    kitty_core = sys.modules["kittygrad_core"]
    print(f"kittygrad_core compiled modules: {kitty_core.COMPILED or 'none (pure build)'}")
    for name, times in rows:
        print(f"\n{name}")
        for k, t in times.items():
            print(f"  {k:15s} {t * 1e6:10.1f} us   x torch {t / times['torch eager']:5.2f}   "
                  f"x numpy {t / times['numpy (hand)']:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
