"""JSON bodies to Structs, with refusals that name the field.

msgspec refuses a JSON string holding a lone UTF-16 surrogate escape (``"\\ud800"``, valid
JSON grammar but no Unicode text) with a bare :class:`msgspec.DecodeError` ("Input data was
truncated") that names no field. :func:`decode` finds which field held it and answers 422
``invalid_text`` naming that field, instead of a 400 that leaves the client guessing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from smsgw.gateway.errors import BadRequest, Invalid

__all__ = ["decode", "lone_surrogate_path"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def decode(decoder: msgspec.json.Decoder[Any], body: bytes | msgspec.Raw, prefix: str) -> Any:
    """Decode ``body``; raises :class:`Invalid` (422, naming the field under ``prefix``) for a
    value the schema refuses or a lone surrogate, :class:`BadRequest` (400 ``malformed_json``)
    for a body that is not JSON at all. With a ``prefix`` (a batch item), malformed JSON is a
    422 naming the item."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        # A refused object key is reported "at `key` in `$.path`": the field is the object.
        text = str(e).replace(" - at `key` in `$", " - at `$")
        reason, _, path = text.partition(" - at `$")
        field = prefix + path.rstrip("`").lstrip(".") if path else (prefix.rstrip(".") or None)
        if reason.startswith("Object missing required field"):
            missing = reason.split("`")[1]
            field = prefix + (path.rstrip("`").lstrip(".") + "." if path else "") + missing
        if reason.startswith("Object contains unknown field"):
            unknown = reason.split("`")[1]
            field = prefix + (path.rstrip("`").lstrip(".") + "." if path else "") + unknown
        raise Invalid(reason, field=field or None) from None
    except msgspec.DecodeError as e:
        where = lone_surrogate_path(bytes(body))
        if where is not None:
            raise Invalid(
                "text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape),"
                " which is not Unicode text",
                field=prefix + where if where else (prefix.rstrip(".") or None),
                code="invalid_text",
            ) from None
        if prefix:
            raise Invalid(f"malformed JSON: {e}", field=prefix.rstrip(".")) from None
        raise BadRequest(f"malformed JSON: {e}", code="malformed_json") from None


def lone_surrogate_path(body: bytes) -> str | None:
    """The path (``text``, ``messages[3].text``; ``""`` for the top level) of the first string
    or object key in ``body`` holding a lone surrogate, or None when there is none or ``body``
    is not JSON even by the standard library's more lenient reading.

    Only on the error path: the standard library decodes ``\\ud800`` to a lone surrogate (a
    valid pair becomes one astral character), so whatever surrogate is left is a lone one.
    """
    if b"\\u" not in body and b"\\U" not in body:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    # Iterative, depth-first in document order: nesting is bounded only by the parser.
    stack: list[tuple[str, object]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            items = []
            for k, v in value.items():
                # The path goes back in the error, as JSON: a surrogate in it is shown escaped.
                name = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", k)
                child = f"{path}.{name}" if path else name
                if name != k:
                    return child
                items.append((child, v))
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(value)]))
    return None
