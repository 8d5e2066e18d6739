"""``python -m kittygrad_core``: lists the installed plugins and the ops each one provides.

``python -m kittygrad_core --markdown [DISTRIBUTION]`` prints the op reference as a Markdown table
(docs/ops.md is made this way).
"""
from __future__ import annotations

import inspect
import sys


def main(argv: list[str] | None = None) -> int:
    """Prints plugins with their distributions and versions, then every op with its owner."""
    import kittygrad_core

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--markdown"]:
        print(markdown(kittygrad_core.registry, argv[1] if len(argv) > 1 else None))
        return 0
    print(f"kittygrad-core {kittygrad_core.__version__}")
    print("plugins:")
    if not kittygrad_core.plugins.plugins:
        print("  (none)")
    infos = sorted(kittygrad_core.plugins.plugins.values(), key=lambda i: i.name)
    width = max([12, *(len(info.name) + 1 for info in infos)])
    origins = {info.name: f"{info.distribution} {info.version}" if info.distribution else "runtime"
               for info in infos}
    origin_width = max([28, *(len(origin) + 1 for origin in origins.values())])
    for info in infos:
        status = f"FAILED: {info.error}" if info.error else f"{len(info.ops)} ops"
        print(f"  {info.name:<{width}} {origins[info.name]:<{origin_width}} {status}")
    registry = kittygrad_core.registry
    print(f"ops ({len(registry)}):")
    names = registry.names()
    width = max([16, *(len(name) + 1 for name in names)])
    for name in names:
        displaced = registry.overrides(name)
        note = f" (overrides {', '.join(displaced)})" if displaced else ""
        print(f"  {name:<{width}} {registry.owner(name) or 'runtime'}{note}")
    return 0


def markdown(registry: object, distribution: str | None = None) -> str:
    """The op reference: one row per op with its bindings, its summary and its torch reference."""
    rows = ["| op | bindings | summary | torch reference | owner |", "| --- | --- | --- | --- | --- |"]
    for name in registry.names():
        op = registry[name]
        if distribution is not None and op.distribution != distribution:
            continue
        bindings = [f"`kitty.{f}`" for f in (op.functions if op.functions is not None else (name,))]
        bindings += [f"`Tensor.{m}`" for m in (op.methods if op.methods is not None else (name,))]
        for attribute in ("operators", "reflected", "inplace", "properties"):
            bindings += [f"`{b}`" for b in getattr(op, attribute, ())]
        doc = inspect.getdoc(op) or ""
        summary = " ".join(doc.split("\n\n")[1:2]).replace("\n", " ").replace("|", "\\|") or doc
        reference = getattr(op.conformance, "torch", None)
        reference = reference if isinstance(reference, str) else "callable" if reference else ""
        rows.append(f"| `{name}` | {', '.join(bindings) or '(helper, no binding)'} | {summary} | "
                    f"{reference} | {op.distribution or op.plugin or 'runtime'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
