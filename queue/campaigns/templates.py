"""Message templates: a text with ``{{variable}}`` placeholders, parsed once, rendered per
recipient. Pure: no I/O, no clock; the gateway stores templates and calls these functions.

The syntax:

* ``{{name}}`` is replaced by the recipient's value of ``name``; a name is a letter or ``_``
  then letters, digits and ``_`` (at most 64), and spaces, tabs and line breaks around it
  inside the braces are allowed (``{{ name }}``).
* ``{{name|default}}`` falls back to ``default`` when the recipient has no ``name``; the
  default is the text after the first ``|``, with whitespace around it removed, and may be
  empty (``{{title|}}``).
* ``{{{{`` is a literal ``{{`` (the one escape); a single ``{`` and any ``}`` outside a
  placeholder are literal as written. In a run of braces, each ``{{{{`` from the left is a
  literal ``{{`` and what is left decides: ``{`` is a literal brace, ``{{`` opens a
  placeholder, ``{{{`` is a literal brace and then a placeholder (``{{{name}}}`` reads ``{``,
  the value, ``}``). :func:`escape` writes any literal text in this form.
* Anything else that opens ``{{`` is an error naming the place: an unclosed ``{{``, an empty
  or malformed name, a ``{`` inside the braces.

A template has a default text and optional per-locale variants (``{"de": ..., "fr-CA": ...}``);
:func:`choose` picks the exact locale, then its language (``fr-CA`` -> ``fr``), then the
default. Variants are keyed by locales in canonical case (:data:`VARIANT_PATTERN`); the locale
asked for compares case-insensitively, ``_`` read as ``-``.

Values are ``str``, ``int`` or ``float`` (JSON strings and numbers); a bool, null, list or
object is refused (:class:`BadValue`). :func:`render_plan` gives the rendered text's wire plan
(:func:`smsgw.drivers.text.plan`) per recipient, so a value that turns GSM-7 into UCS-2 or
adds a part is counted for that recipient alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from smsgw.drivers.text import Plan, plan

__all__ = [
    "LOCALE_PATTERN",
    "MAX_TEXT",
    "MAX_VARIANTS",
    "NAME_PATTERN",
    "TEMPLATE_PATTERN",
    "VARIANT_PATTERN",
    "BadValue",
    "Compiled",
    "CompiledTemplate",
    "MissingVariable",
    "Slot",
    "TemplateError",
    "TemplateSyntaxError",
    "check_vars",
    "choose",
    "compile_template",
    "compile_text",
    "escape",
    "locale_key",
    "render",
    "render_plan",
]

MAX_TEXT = 10_000
"""Characters of one template text (default or variant)."""
MAX_VARIANTS = 50
"""Locale variants of one template."""
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
"""A variable's name."""
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$"
"""A locale a recipient asks for: a language (``de``), optionally a script or region after
``-`` or ``_`` (``fr-CA``, ``fr_ca``), in any case."""
VARIANT_PATTERN = r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$"
"""A variant's locale, in its canonical case so no two variants are one locale: a language
in lower case (``de``), then optionally a script in title case (``zh-Hant``) and a region in
upper case or three digits (``fr-CA``, ``es-419``)."""
_WS = " \t\r\n"
"""Whitespace allowed around a name inside the braces."""
TEMPLATE_PATTERN = (
    r"^(?:[^{]"
    r"|(?:\{\{\{\{)+(?!\{)|\{(?:\{\{\{\{)*(?!\{)"
    r"|(?:\{\{\{\{)*\{?\{\{[ \t\r\n]*[A-Za-z_][A-Za-z0-9_]{0,63}[ \t\r\n]*"
    r"(?:\|(?:[^{}]|\}(?!\}))*)?\}\})*$"
)
"""Every text :func:`compile_text` takes, as one regular expression (for the API document;
a property test keeps the two in step)."""

_NAME = re.compile(NAME_PATTERN.replace("$", r"\Z"))
_VARIANT = re.compile(VARIANT_PATTERN.replace("$", r"\Z"))
_BRACES = re.compile(r"\{\{+")

Value = str | int | float


class TemplateError(ValueError):
    """A template or its variables refused: ``code`` (the API's error code) and ``field``
    (the JSON path the problem is in, relative to the template or the vars)."""

    code = "invalid_template"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class TemplateSyntaxError(TemplateError):
    """The text cannot be parsed: unclosed ``{{``, a bad variable name, a bad locale."""


class MissingVariable(TemplateError):
    """A placeholder without a default whose variable the recipient lacks (field
    ``vars.<name>``)."""

    code = "missing_variable"

    def __init__(self, name: str) -> None:
        super().__init__(f"variable {name!r} is missing and has no default", f"vars.{name}")
        self.name = name


class BadValue(TemplateError):
    """A variable whose value is not a string or a number (field ``vars.<name>``)."""

    code = "invalid_variable"


@dataclass(frozen=True, slots=True)
class Slot:
    """A placeholder: the variable's name and its default (None: the variable is required)."""

    name: str
    default: str | None


@dataclass(frozen=True, slots=True)
class Compiled:
    """One parsed text: ``literals`` and ``slots`` interleave, ``literals[0] slots[0]
    literals[1] ... slots[-1] literals[-1]`` (one more literal than slots)."""

    literals: tuple[str, ...]
    slots: tuple[Slot, ...]

    @property
    def names(self) -> frozenset[str]:
        """The variables the text uses."""
        return frozenset(s.name for s in self.slots)

    @property
    def required(self) -> frozenset[str]:
        """The variables without a default."""
        return frozenset(s.name for s in self.slots if s.default is None)


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template's default text and its variants by normalised locale (:func:`locale_key`)."""

    default: Compiled
    variants: Mapping[str, Compiled]


def compile_text(text: str, field: str = "text") -> Compiled:
    """Parse ``text`` once; raises :class:`TemplateSyntaxError` naming ``field`` and the
    character offset of the problem."""
    if len(text) > MAX_TEXT:
        raise TemplateSyntaxError(
            f"a template text holds at most {MAX_TEXT} characters, got {len(text)}", field
        )
    literals: list[str] = []
    slots: list[Slot] = []
    pending: list[str] = []
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            pending.append(text[i:])
            break
        pending.append(text[i:j])
        k = j
        while k < len(text) and text[k] == "{":
            k += 1
        escaped, rest = divmod(k - j, 4)
        pending.append("{{" * escaped + "{" * (rest % 2))
        i = k
        if rest < 2:
            continue
        end = text.find("}}", k)
        if end < 0:
            raise TemplateSyntaxError(
                f"'{{{{' at offset {k - 2} is not closed by '}}}}' (write '{{{{{{{{' for a"
                " literal '{{{{')",
                field,
            )
        slots.append(_slot(text[k:end], k - 2, field))
        literals.append("".join(pending))
        pending = []
        i = end + 2
    literals.append("".join(pending))
    return Compiled(tuple(literals), tuple(slots))


def escape(literal: str) -> str:
    """Template text that renders as ``literal`` whatever follows it: each run of ``k``
    braces becomes ``2k`` braces (``2k - 1`` when ``k`` is odd)."""
    if "{{" not in literal:
        return literal
    return _BRACES.sub(lambda m: "{" * (2 * len(m[0]) - len(m[0]) % 2), literal)


def _slot(inner: str, at: int, field: str) -> Slot:
    name, bar, default = inner.partition("|")
    name = name.strip(_WS)
    if not _NAME.match(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise TemplateSyntaxError(
            f"placeholder at offset {at}: {shown!r} is not a variable name (a letter or '_',"
            " then letters, digits and '_', at most 64)",
            field,
        )
    if "{" in default:
        raise TemplateSyntaxError(f"placeholder at offset {at}: its default holds '{{'", field)
    return Slot(name, default.strip() if bar else None)


def locale_key(locale: str) -> str:
    """A locale as variants are looked up: lower case, ``_`` read as ``-``."""
    return locale.replace("_", "-").lower()


def compile_template(text: str, variants: Mapping[str, str] | None = None) -> CompiledTemplate:
    """Parse a template's default text (field ``text``) and each variant (field
    ``variants.<locale>``); raises :class:`TemplateSyntaxError`, also for a malformed locale,
    two locales that differ only in case or ``_``, or more than :data:`MAX_VARIANTS`."""
    default = compile_text(text, "text")
    compiled: dict[str, Compiled] = {}
    variants = variants or {}
    if len(variants) > MAX_VARIANTS:
        raise TemplateSyntaxError(
            f"a template has at most {MAX_VARIANTS} variants, got {len(variants)}", "variants"
        )
    for locale, body in variants.items():
        field = f"variants.{locale}"
        if not _VARIANT.match(locale):
            raise TemplateSyntaxError(
                f"{locale!r} is not a locale like 'de', 'fr-CA' or 'zh-Hant-TW' (language in"
                " lower case, script in title case, region in upper case)",
                field,
            )
        key = locale_key(locale)
        if key in compiled:
            raise TemplateSyntaxError(f"locale {locale!r} is given twice", field)
        compiled[key] = compile_text(body, field)
    return CompiledTemplate(default, compiled)


def choose(template: CompiledTemplate, locale: str | None) -> Compiled:
    """The variant for ``locale``: its exact match, else its language's, else the default."""
    if not locale or not template.variants:
        return template.default
    key = locale_key(locale)
    found = template.variants.get(key)
    if found is None:
        found = template.variants.get(key.split("-", 1)[0])
    return template.default if found is None else found


def check_vars(variables: Mapping[str, object]) -> None:
    """Raise :class:`BadValue` for the first value that is not a string or a number, used or
    not (what the API document promises of ``vars``)."""
    for name, value in variables.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise BadValue(
                f"variable {name!r} must be a string or a number, not {_json_type(value)}",
                f"vars.{name}",
            )


def render(compiled: Compiled, variables: Mapping[str, object]) -> str:
    """The text with every placeholder replaced; raises :class:`MissingVariable` (the first
    missing one, in text order) or :class:`BadValue`. Variables the text does not use are
    ignored, whatever their type."""
    literals = compiled.literals
    out = [literals[0]]
    for slot, literal in zip(compiled.slots, literals[1:], strict=True):
        value = variables.get(slot.name)
        if value is None:
            if slot.default is None:
                if slot.name in variables:
                    raise BadValue(f"variable {slot.name!r} is null", f"vars.{slot.name}")
                raise MissingVariable(slot.name)
            out.append(slot.default)
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(str(value))
        else:
            raise BadValue(
                f"variable {slot.name!r} must be a string or a number, not {_json_type(value)}",
                f"vars.{slot.name}",
            )
        out.append(literal)
    return "".join(out)


def render_plan(
    compiled: Compiled,
    variables: Mapping[str, object],
    *,
    max_parts: int = 255,
    ref_bits: Literal[8, 16] = 8,
    smart: bool = False,
) -> Plan:
    """:func:`render`, then the text's wire plan (encoding, parts, the characters that forced
    UCS-2); raises what :func:`render` and :func:`smsgw.drivers.text.plan` raise."""
    return plan(render(compiled, variables), max_parts=max_parts, ref_bits=ref_bits, smart=smart)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    if value is None:
        return "null"
    return type(value).__name__
