"""The package's docstrings and comments stand alone.

A reader of the source has the repository and nothing else: a docstring or comment that says
"see DESIGN.md", "(STACK.md)", "STYLE.md 2" or "(issue 12)", "#12" points at text they do not
have. Every docstring (module, class, function) and every comment of the package's modules is
read (string literals that are not docstrings, such as CSS or HTML in Python strings, are not),
and the test lists each one that still points outside.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("gateway", "drivers", "queue", "config", "metrics")

OUTSIDE = re.compile(
    r"\b(?:DESIGN|STACK|STYLE)\.md\b"  # documents kept outside the repository
    r"|\bissues?\s+#?\d+"  # "issue 12", "issues 12, 13", "issue #12"
    r"|(?<![\w&#])#\d+\b",  # "#12" (not an HTML entity such as "&#12;")
    re.IGNORECASE,
)


def package_modules() -> list[Path]:
    """The package's Python files: the root's and those under each package folder."""
    files = sorted(ROOT.glob("*.py"))
    for folder in PACKAGE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _docstrings(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            found.append((first.lineno, first.value.value))
    # Attribute docstrings: a bare string right after an assignment in a class or module.
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef):
            for before, after in zip(node.body, node.body[1:], strict=False):
                if (
                    isinstance(before, ast.Assign | ast.AnnAssign)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    found.append((after.lineno, after.value.value))
    return found


def _comments(source: str) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    # The comment's own leading "#" is not a reference: "#12 ..." reads as "12 ...".
    return [(t.start[0], t.string.lstrip("#")) for t in tokens if t.type == tokenize.COMMENT]


def references(source: str) -> list[tuple[int, str, str]]:
    """``(line, kind, matched text)`` for each reference to outside text in ``source``'s
    docstrings and comments, in line order."""
    hits: list[tuple[int, str, str]] = []
    for kind, texts in (
        ("docstring", _docstrings(ast.parse(source))),
        ("comment", _comments(source)),
    ):
        for line, text in texts:
            hits.extend(
                (line + text.count("\n", 0, m.start()), kind, m.group(0))
                for m in OUTSIDE.finditer(text)
            )
    return sorted(hits)


def test_the_check_finds_references_and_only_in_docstrings_and_comments() -> None:
    source = '''"""A module (see DESIGN.md; STACK.md has the figures)."""

COLOUR = "#8885"  # a string literal: not read
ENTITY = "&#12;"
LIMIT = 3
"""At most three (issue 7)."""


class Thing:
    """A thing.

    Follows STYLE.md 2.
    """

    def run(self) -> None:
        """Run it (issues 12, 13)."""
        x = 1  # the fix for #12
        y = 2  # issues are counted, not numbered here
        #3 rounds
'''
    assert references(source) == [
        (1, "docstring", "DESIGN.md"),
        (1, "docstring", "STACK.md"),
        (6, "docstring", "issue 7"),
        (12, "docstring", "STYLE.md"),
        (16, "docstring", "issues 12"),
        (17, "comment", "#12"),
    ]


def test_the_check_reads_every_package_folder() -> None:
    files = package_modules()
    for folder in PACKAGE_DIRS:
        assert any(f.parent.relative_to(ROOT).parts[:1] == (folder,) for f in files), folder


def test_no_docstring_or_comment_in_the_package_points_outside_the_repository() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {kind} cites {text!r}"
        for path in package_modules()
        for line, kind, text in references(path.read_text(encoding="utf-8"))
    ]
    assert not hits, "rewrite these to stand alone:\n" + "\n".join(hits)
