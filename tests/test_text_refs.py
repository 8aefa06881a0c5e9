"""Concatenation references per destination, and the text package's own promises."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

from smsgw.drivers import text
from smsgw.drivers.text import InvalidArgument, ReferenceAllocator

TEXT_DIR = Path(text.__file__).parent


def test_consecutive_messages_to_one_number_never_share_a_reference() -> None:
    refs = ReferenceAllocator(8, start=250)
    got = [refs.next("+4917012345678") for _ in range(256)]
    assert len(set(got)) == 256  # every 8-bit value once before any repeats
    assert got[:7] == [250, 251, 252, 253, 254, 255, 0]  # wraps, never 256
    assert refs.next("+4917012345678") == got[0]


def test_destinations_have_their_own_counters() -> None:
    refs = ReferenceAllocator(8, start=0)
    assert [refs.next("+49A"), refs.next("+49B"), refs.next("+49A"), refs.next("+49B")] == [
        0,
        1,
        1,
        2,
    ]
    assert len(refs) == 2


def test_sixteen_bit_references() -> None:
    refs = ReferenceAllocator(16, start=65535)
    assert [refs.next("x") for _ in range(3)] == [65535, 0, 1]
    rnd = ReferenceAllocator(16)
    assert all(0 <= rnd.next(str(i)) <= 0xFFFF for i in range(100))


def test_memory_is_bounded_by_forgetting_the_least_recent_destination() -> None:
    refs = ReferenceAllocator(8, max_destinations=2, start=0)
    refs.next("a")  # 0
    refs.next("b")  # 1
    refs.next("a")  # 1: a is now the most recent
    refs.next("c")  # 2: b is forgotten
    assert len(refs) == 2
    assert refs.next("a") == 2  # a still counts on
    assert refs.next("b") == 3  # b starts again from the shared counter


def test_bad_settings() -> None:
    with pytest.raises(InvalidArgument):
        ReferenceAllocator(12)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        ReferenceAllocator(8, max_destinations=0)


def test_the_package_imports_nothing_but_the_standard_library() -> None:
    for path in sorted(TEXT_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or name.startswith("smsgw.drivers.text")
                ok = ok or name == "smsgw.words"  # a leaf of the standard library only
                assert ok, f"{path.name} imports {name}"


def test_every_public_name_is_exported_and_documented() -> None:
    for name in text.__all__:
        obj = getattr(text, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name
