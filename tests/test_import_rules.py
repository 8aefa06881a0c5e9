"""The package's layers, read from its import statements: gateway -> queue -> drivers, with
config, metrics and words as leaves every layer may use; and the words spelled only once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from smsgw.words import CLASSES, ENCODINGS, FINAL, STATUSES

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("gateway", "queue", "drivers", "config", "metrics")

ALLOWED: dict[str, frozenset[str]] = {
    "words": frozenset(),
    "config": frozenset({"words"}),
    "metrics": frozenset({"words"}),
    "drivers": frozenset({"words", "config", "metrics"}),
    "queue": frozenset({"words", "config", "metrics", "drivers"}),
    "gateway": frozenset({"words", "config", "metrics", "drivers", "queue", "smsgw"}),
    "__main__": frozenset({"gateway"}),
    "__init__": frozenset(),
}
"""Layer -> the layers it may import (``smsgw`` is the root package itself, for its version)."""


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.glob("*.py")):
        yield path.stem, path
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            yield layer, path


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_each_layer_imports_only_the_layers_below_it() -> None:
    seen = 0
    for layer, path in _modules():
        seen += 1
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] != "smsgw":
                continue
            target = parts[1] if len(parts) > 1 else "smsgw"
            if target == layer:
                continue
            rel = path.relative_to(ROOT)
            assert target in ALLOWED[layer], f"{rel} ({layer}) imports {name}"
    assert seen > 100


def test_words_imports_nothing_but_the_standard_library() -> None:
    import sys

    tree = ast.parse((ROOT / "words.py").read_text(encoding="utf-8"))
    for name in _imported(tree):
        assert name.split(".")[0] in sys.stdlib_module_names, name


_SPELLED_ONCE = {
    frozenset(CLASSES): "the message classes (smsgw.words.CLASSES)",
    frozenset(ENCODINGS): "the encodings (smsgw.words.ENCODINGS)",
    frozenset(STATUSES): "the statuses (smsgw.words.STATUSES)",
    frozenset(FINAL): "the final statuses (smsgw.words.FINAL)",
}
_ORDERS = {("queue/model.py", "_FINAL_ORDER")}
"""Assignments that list those words for another fact: the worst-first order of final
statuses a multipart message shows."""


def _listed(node: ast.AST) -> frozenset[str] | None:
    if isinstance(node, ast.Subscript):  # Literal["a", "b"]
        node = node.slice
    if not isinstance(node, ast.Tuple | ast.List | ast.Set):
        return None
    values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    if len(values) < 2 or not all(isinstance(v, str) for v in values):
        return None
    return frozenset(str(v) for v in values)


def test_classes_encodings_and_statuses_are_listed_only_in_words() -> None:
    found: list[str] = []
    for _, path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "words.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if any((rel, n) in _ORDERS for n in names) and node.value is not None:
                    skip.update(id(n) for n in ast.walk(node.value))
        for node in ast.walk(tree):
            words = _listed(node)
            if words in _SPELLED_ONCE and id(node) not in skip:
                line = getattr(node, "lineno", 0)
                found.append(f"{rel}:{line} lists {_SPELLED_ONCE[words]}")
    assert not found, "\n".join(found)


_FAMILY_MAKERS = {
    "Counter", "Gauge", "Histogram", "Summary", "Info", "Enum",
    "CounterMetricFamily", "GaugeMetricFamily", "HistogramMetricFamily", "InfoMetricFamily",
    "SummaryMetricFamily", "CollectorRegistry",
}  # fmt: skip


def test_every_metric_family_is_declared_in_metrics() -> None:
    """Outside metrics/, no module constructs a Prometheus instrument, family or registry:
    they take the instruments from Metrics and hand collectors narrow views."""
    found: list[str] = []
    for layer, path in _modules():
        if layer == "metrics":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = (
                    f.id
                    if isinstance(f, ast.Name)
                    else f.attr
                    if isinstance(f, ast.Attribute)
                    else ""
                )
                if name in _FAMILY_MAKERS and (name in imported or isinstance(f, ast.Attribute)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} builds {name}")
    assert not found, "\n".join(found)
