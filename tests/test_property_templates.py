"""Properties of template rendering (queue/campaigns/templates.py).

Any text either compiles or raises :class:`TemplateSyntaxError` (nothing else); an escaped
literal renders back to itself whatever follows it; a template built from literals and
placeholders renders to the literals and the values in order; and the plan of a rendered
text is the text module's plan of that text (the part count is per recipient).
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.text import plan
from smsgw.queue.campaigns.templates import (
    TEMPLATE_PATTERN,
    MissingVariable,
    TemplateSyntaxError,
    compile_text,
    escape,
    render,
    render_plan,
)
from tests.property_helpers import budget

_BRACY = st.text(st.sampled_from("{}| ab_1\n\t\x0b€李"), max_size=40)
"""Texts dense in braces, bars and name characters: where the parser's edges are."""
_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z")
_VALUES = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False))
_DEFAULTS = st.none() | st.text(st.characters(exclude_characters="{}|"), max_size=10).map(str.strip)


@budget(300)
@given(st.one_of(_BRACY, st.text(max_size=60)))
def test_any_text_compiles_or_is_refused_as_a_syntax_error(text: str) -> None:
    try:
        compiled = compile_text(text)
    except TemplateSyntaxError as e:
        assert e.field == "text"
        return
    assert len(compiled.literals) == len(compiled.slots) + 1
    variables = {s.name: "v" for s in compiled.slots}
    render(compiled, variables)


@budget(500)
@given(st.one_of(_BRACY, st.text(max_size=60), st.from_regex(TEMPLATE_PATTERN)))
def test_the_documented_pattern_takes_exactly_the_texts_that_compile(text: str) -> None:
    # As a JSON Schema validator reads a pattern: re.search, anchored by the pattern itself.
    matches = re.search(TEMPLATE_PATTERN, text) is not None
    try:
        compile_text(text)
    except TemplateSyntaxError:
        assert not matches, text
    else:
        assert matches, text


@budget(300)
@given(st.one_of(_BRACY, st.text(max_size=60)), _NAMES, st.text(max_size=10))
def test_an_escaped_literal_renders_as_itself_whatever_follows(
    literal: str, name: str, value: str
) -> None:
    assert render(compile_text(escape(literal)), {}) == literal
    compiled = compile_text(escape(literal) + "{{" + name + "}}")
    assert render(compiled, {name: value}) == literal + value


@budget(200)
@given(
    st.lists(st.tuples(st.one_of(_BRACY, st.text(max_size=20)), _NAMES, _DEFAULTS), max_size=6),
    st.one_of(_BRACY, st.text(max_size=20)),
    st.dictionaries(_NAMES, _VALUES, max_size=6),
    st.booleans(),
)
def test_a_built_template_renders_the_literals_and_values_in_order(
    pieces: list[tuple[str, str, str | None]],
    tail: str,
    variables: dict[str, str | int | float],
    spaced: bool,
) -> None:
    pad = " " if spaced else ""
    text = ""
    expected = ""
    missing = None
    for literal, name, default in pieces:
        bar = "" if default is None else f"{pad}|{pad}{default}"
        text += escape(literal) + "{{" + pad + name + bar + pad + "}}"
        expected += literal
        if name in variables:
            expected += str(variables[name])
        elif default is not None:
            expected += default
        elif missing is None:
            missing = name
    text += escape(tail)
    expected += tail
    compiled = compile_text(text)
    assert [s.name for s in compiled.slots] == [name for _, name, _ in pieces]
    if missing is not None:
        try:
            render(compiled, variables)
        except MissingVariable as e:
            assert e.name == missing and e.field == f"vars.{missing}"
        else:
            raise AssertionError("a missing variable rendered")
        return
    assert render(compiled, variables) == expected


@budget(100)
@given(st.text(max_size=80), st.text(max_size=200))
def test_the_plan_is_the_text_modules_plan_of_the_rendered_text(head: str, value: str) -> None:
    compiled = compile_text(escape(head) + "{{v}}")
    rendered = head + value
    try:
        expected = plan(rendered, max_parts=255)
    except ValueError as e:
        try:
            render_plan(compiled, {"v": value})
        except ValueError as refused:
            assert type(refused) is type(e)
            return
        raise AssertionError("render_plan planned what plan refused") from None
    assert render_plan(compiled, {"v": value}) == expected
