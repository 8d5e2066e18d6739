"""A small parser of the DOT source CompGraph writes, for the tests."""
import re
from dataclasses import dataclass, field

_STATEMENT = re.compile(r'^\t+(\w+)(?: -> (\w+))? \[((?:[^\]"]|"(?:[^"\\]|\\.)*")*)\]', re.M)
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


@dataclass
class Dot:
    """Nodes and edges of a DOT source, with duplicate edges merged as a strict graph does."""

    nodes: dict = field(default_factory=dict)
    edges: dict = field(default_factory=dict)

    def labelled(self, label):
        return [name for name, attrs in self.nodes.items() if attrs.get("label") == label]

    def one(self, label):
        names = self.labelled(label)
        assert len(names) == 1, (label, names)
        return names[0]

    def visible_edges(self):
        return {key for key, attrs in self.edges.items() if attrs.get("style") != "invis"}


def parse_dot(source: str) -> Dot:
    dot = Dot()
    for tail, head, attr_text in _STATEMENT.findall(source):
        if tail in ("graph", "node", "edge") and not head:
            continue
        attrs = {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(attr_text)}
        if head:
            dot.edges.setdefault((tail, head), {}).update(attrs)
        else:
            dot.nodes.setdefault(tail, {}).update(attrs)
    return dot
