"""``python -m kittygrad_core``: lists the installed plugins and the ops each one provides."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Prints plugins with their distributions and versions, then every op with its owner."""
    import kittygrad_core

    print(f"kittygrad-core {kittygrad_core.__version__}")
    print("plugins:")
    if not kittygrad_core.plugins.plugins:
        print("  (none)")
    for info in sorted(kittygrad_core.plugins.plugins.values(), key=lambda i: i.name):
        origin = f"{info.distribution} {info.version}" if info.distribution else "runtime"
        status = f"FAILED: {info.error}" if info.error else f"{len(info.ops)} ops"
        print(f"  {info.name:<12} {origin:<28} {status}")
    print(f"ops ({len(kittygrad_core.registry)}):")
    for name in kittygrad_core.registry.names():
        print(f"  {name:<16} {kittygrad_core.registry.owner(name) or 'runtime'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
