"""Rows read by name: a record type's fields are the SELECT list, and rows come back as records.

:class:`Columns` derives ``SELECT a, b, c`` from a msgspec Struct's fields (a field stored under
another column name is read ``column AS field``), and turns the rows of a cursor into Structs by
the names the cursor reports. Adding a field to a record and its column to the table is the
whole change: no statement lists positions, no reader counts them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Columns"]

S = TypeVar("S", bound=msgspec.Struct)


class Columns(Generic[S]):
    """The columns of the record type ``cls`` and the reader of its rows.

    ``columns`` maps a field to the SQL expression it is stored as (default: the field's name,
    qualified by ``prefix`` when given, for joins); ``skip`` names fields filled otherwise
    (they keep their defaults); ``convert`` maps a field to a function of its stored value (an
    SQLite integer read as a bool, say).

    Raises ValueError at construction for a name that is not one of ``cls``'s fields.
    """

    def __init__(
        self,
        cls: type[S],
        *,
        prefix: str = "",
        columns: Mapping[str, str] | None = None,
        skip: Iterable[str] = (),
        convert: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        names = msgspec.structs.fields(cls)
        fields = [f.name for f in names]
        columns = dict(columns or {})
        convert = dict(convert or {})
        skipped = set(skip)
        for name in (*columns, *skipped, *convert):
            if name not in fields:
                raise ValueError(f"{cls.__name__} has no field {name!r}")
        self.cls = cls
        self.fields = tuple(f for f in fields if f not in skipped)
        exprs: list[str] = []
        for f in self.fields:
            expr = columns.get(f, f"{prefix}.{f}" if prefix else f)
            # Quoted: a field may be an SQL keyword (``to``).
            exprs.append(expr if expr == f else f'{expr} AS "{f}"')
        self.select = ", ".join(exprs)
        """The SELECT list, in field order: ``mid AS cursor, id, ...``."""
        self._convert = convert

    def read(self, cursor: sqlite3.Cursor) -> list[S]:
        """Every row of ``cursor`` (a SELECT of :attr:`select`, maybe with more columns after)
        as a record, matched by column name; columns that are not fields are ignored."""
        names = [d[0] for d in cursor.description]
        return [self._make(names, row) for row in cursor]

    def read_one(self, cursor: sqlite3.Cursor) -> S | None:
        """The first row of ``cursor`` as a record, or None when there is none."""
        row = cursor.fetchone()
        if row is None:
            return None
        return self._make([d[0] for d in cursor.description], row)

    def read_with(self, cursor: sqlite3.Cursor) -> list[tuple[S, dict[str, Any]]]:
        """Like :meth:`read`, each record with every value of its row by column name (for the
        columns selected beyond the record's fields)."""
        names = [d[0] for d in cursor.description]
        out: list[tuple[S, dict[str, Any]]] = []
        for row in cursor:
            values = dict(zip(names, row, strict=True))
            out.append((self._build(values), values))
        return out

    def _make(self, names: list[str], row: Iterable[Any]) -> S:
        return self._build(dict(zip(names, row, strict=True)))

    def _build(self, values: Mapping[str, Any]) -> S:
        kwargs = {f: values[f] for f in self.fields}
        for f, fn in self._convert.items():
            kwargs[f] = fn(kwargs[f])
        return self.cls(**kwargs)
