"""The map in docs/architecture.md, made from the code: the packages in layers
(each above every package it imports, lazy imports and imports in functions
counted), and every module under its package with the first line of its
docstring. ``tests/test_architecture.py`` fails when the map in the document
is not this one.

    python -m tests.architecture_map --write   # write it into docs/architecture.md
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- the map: made by `python -m tests.architecture_map --write`; do not edit -->"
END = "<!-- end of the map -->"


def layers(graph: dict[str, set[str]]) -> list[list[str]]:
    """The packages, lowest layer first: a package sits one above the highest
    package it imports."""
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in level:
            return level[name]
        below = [depth(d, (*seen, name)) for d in graph.get(name, ()) if d not in seen]
        level[name] = 1 + max(below, default=-1)
        return level[name]

    for name in graph:
        depth(name)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name, n in level.items():
        out[n].append(name)
    return [sorted(row) for row in out]


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    line = " ".join(doc.split("\n\n")[0].split())
    end = line.find(". ")
    line = line if end < 0 else line[: end + 1]
    return line if len(line) <= 110 else line[:107].rstrip() + "..."


def render() -> str:
    from tests.test_architecture import MODULES, PURE, package_graph, package_of

    graph = package_graph()
    lines = [BEGIN, "", "```"]
    rows = layers(graph)
    for number, row in reversed(list(enumerate(rows))):
        lines.append(f"layer {number}: " + "  ".join(row))
    lines += ["```", "", "What each package imports (the arrows of the picture above):", ""]
    for name in sorted(graph):
        below = sorted(graph[name])
        lines.append(f"- `{name}` -> {', '.join(f'`{b}`' for b in below) or 'nothing of ours'}")
    lines += ["", "Every module, under its package:", ""]
    by_package: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if path.name in ("__main__.py",):
            continue
        by_package.setdefault(package_of(name) if path.name != "__init__.py" else name, [])
        if path.name == "__init__.py":
            continue
        by_package[package_of(name)].append(name)
    for package in sorted(by_package):
        face = MODULES.get(package)
        summary = f": {first_line(face)}" if face is not None else ""
        lines.append(f"- **`{package}`**{summary}")
        for name in sorted(by_package[package]):
            pure = " *(pure)*" if name in PURE else ""
            lines.append(f"  - `{name.rsplit('.', 1)[1]}`{pure}: {first_line(MODULES[name])}")
    lines += ["", END]
    return "\n".join(lines)


def current() -> str | None:
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def write() -> None:
    text = DOC.read_text()
    made = render()
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + made + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## The map\n\n" + made + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(render())
