"""Map a pydantic error location back to the YAML line it came from.

pydantic reports where a value failed as a path of keys and indexes
(`("sections", 2, "limit")`); an adjuster editing policy.yaml needs the line.
yaml's composed node tree keeps a start mark on every node, so walking the
same path through the nodes gives the line (1-based).
"""
from __future__ import annotations

from typing import Any, Iterable

import yaml


def compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=yaml.SafeLoader)


def line_of(root: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """Line of the deepest node reachable along `loc` (a missing key points at its parent mapping)."""
    node = root
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break  # tagged-union discriminators and missing keys: stay on the parent
        node = nxt
        line = max(line, node.start_mark.line + 1) if not isinstance(node, yaml.ScalarNode) else node.start_mark.line + 1
    return line


def dotted(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"
