"""Template rendering (queue/campaigns/templates.py): the syntax, defaults, the escape, errors
that name the place, locale fallback, and the part count per recipient."""

from __future__ import annotations

import pytest

from smsgw.queue.campaigns.templates import (
    BadValue,
    MissingVariable,
    TemplateSyntaxError,
    choose,
    compile_template,
    compile_text,
    render,
    render_plan,
)


@pytest.mark.parametrize(
    ("text", "variables", "rendered"),
    [
        ("Hi {{first_name}}!", {"first_name": "Ana"}, "Hi Ana!"),
        ("Hi {{ first_name }}!", {"first_name": "Ana"}, "Hi Ana!"),
        ("Hi {{first_name|there}}!", {}, "Hi there!"),
        ("Hi {{ first_name | dear customer }}!", {}, "Hi dear customer!"),
        ("Hi {{first_name|there}}!", {"first_name": "Ana"}, "Hi Ana!"),
        ("{{title|}}{{name}}", {"name": "Lee"}, "Lee"),
        ("Order {{n}}: {{total}} EUR", {"n": 4589, "total": 12.5}, "Order 4589: 12.5 EUR"),
        ("no placeholders at all", {"unused": [1, 2]}, "no placeholders at all"),
        ("literal {{{{braces}} here", {}, "literal {{braces}} here"),
        ("{{{code}}}", {"code": "AB"}, "{AB}"),
        ("a { single and }} closing", {}, "a { single and }} closing"),
        ("{{x|a|b}}", {}, "a|b"),
        ("{{a}}{{a}}{{b}}", {"a": "1", "b": "2"}, "112"),
        ("", {}, ""),
    ],
)
def test_renders(text: str, variables: dict[str, object], rendered: str) -> None:
    assert render(compile_text(text), variables) == rendered


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Hi {{first_name", "offset 3 is not closed"),
        ("Hi {{}}", "'' is not a variable name"),
        ("Hi {{ 1st }}", "'1st' is not a variable name"),
        ("Hi {{first name}}", "'first name' is not a variable name"),
        ("Hi {{a-b}}", "'a-b' is not a variable name"),
        ("Hi {{x|{y}}", "its default holds '{'"),
        ("x" * 10_001, "at most 10000 characters"),
    ],
)
def test_malformed_text_is_refused_naming_the_place(text: str, needle: str) -> None:
    with pytest.raises(TemplateSyntaxError) as e:
        compile_text(text, "variants.de")
    assert needle in e.value.message
    assert e.value.field == "variants.de" and e.value.code == "invalid_template"


def test_a_missing_variable_is_named() -> None:
    compiled = compile_text("Hi {{first_name}}, order {{order|?}} ships {{day}}")
    with pytest.raises(MissingVariable) as e:
        render(compiled, {"day": "today"})
    assert e.value.field == "vars.first_name" and e.value.code == "missing_variable"
    assert compiled.required == {"first_name", "day"}
    assert compiled.names == {"first_name", "order", "day"}


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_a_value_that_is_not_a_string_or_number_is_refused(value: object) -> None:
    with pytest.raises(BadValue) as e:
        render(compile_text("Hi {{name}}"), {"name": value})
    assert e.value.field == "vars.name" and e.value.code == "invalid_variable"


def test_locale_picks_exact_then_language_then_default() -> None:
    t = compile_template(
        "Hello {{name}}",
        {"de": "Hallo {{name}}", "fr": "Bonjour {{name}}", "fr-CA": "Allo {{name}}"},
    )
    v = {"name": "Kim"}
    assert render(choose(t, "fr-CA"), v) == "Allo Kim"
    assert render(choose(t, "fr_ca"), v) == "Allo Kim"
    assert render(choose(t, "fr-BE"), v) == "Bonjour Kim"
    assert render(choose(t, "de-AT"), v) == "Hallo Kim"
    assert render(choose(t, "es"), v) == "Hello Kim"
    assert render(choose(t, None), v) == "Hello Kim"


def test_a_bad_variant_names_its_locale() -> None:
    with pytest.raises(TemplateSyntaxError) as e:
        compile_template("ok", {"de": "Hallo {{name"})
    assert e.value.field == "variants.de"
    with pytest.raises(TemplateSyntaxError) as e:
        compile_template("ok", {"german!": "Hallo"})
    assert e.value.field == "variants.german!"
    for odd in ("fr_CA", "fr-ca", "FR", "zh-hant"):
        with pytest.raises(TemplateSyntaxError) as e:
            compile_template("ok", {odd: "b"})
        assert "language in lower case" in e.value.message


def test_a_variable_can_turn_one_recipient_into_ucs2_and_two_parts() -> None:
    compiled = compile_text("Hi {{name}}, your order shipped and arrives tomorrow. " + "x" * 25)
    plain = render_plan(compiled, {"name": "Ana"})
    wide = render_plan(compiled, {"name": "Zoë 李"})
    assert (plain.encoding, plain.parts, plain.ucs2_chars) == ("gsm7", 1, ())
    assert (wide.encoding, wide.parts, wide.ucs2_chars) == ("ucs2", 2, ("ë", "李"))
