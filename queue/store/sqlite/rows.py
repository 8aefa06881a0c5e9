"""Rows read by name: a record type's fields are the SELECT list, and rows come back as records.

:class:`Columns` derives ``SELECT a, b, c`` from a msgspec Struct's fields (a field stored under
another column name is read ``column AS field``), and turns the rows of a cursor into Structs by
the names the cursor reports. Adding a field to a record and its column to the table is the
whole change: no statement lists positions, no reader counts them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Columns", "scalar"]

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

    def reader(self, cursor: sqlite3.Cursor) -> Callable[[Sequence[Any]], S]:
        """A function turning one row of ``cursor`` into a record.

        The fields are found by name in the cursor's columns once, so several record types can
        read their fields from the same row of a join (each from its own names), and reading a
        row costs no more than reading it by position.

        Raises KeyError naming a field the cursor has no column for.
        """
        names = [d[0] for d in cursor.description]
        try:
            positions = [names.index(f) for f in self.fields]
        except ValueError:
            missing = [f for f in self.fields if f not in names]
            raise KeyError(f"{self.cls.__name__}: no column for {missing}") from None
        cls, fields, convert = self.cls, self.fields, self._convert
        if len(positions) == 1:
            (only,) = positions
            pick: Callable[[Sequence[Any]], Any] = lambda row: (row[only],)  # noqa: E731
        else:
            pick = itemgetter(*positions)
        # Positional construction (ten times cheaper) when the fields read are the record's
        # leading positional fields, in order; keywords otherwise (kw_only records, skips).
        positional = tuple(getattr(cls, "__match_args__", ())[: len(fields)]) == fields
        if not convert and positional:
            return lambda row: cls(*pick(row))
        at = {f: i for i, f in enumerate(fields)}
        fixes = [(at[f], fn) for f, fn in convert.items() if f in at]

        def make(row: Sequence[Any]) -> S:
            values = list(pick(row))
            for i, fn in fixes:
                values[i] = fn(values[i])
            if positional:
                return cls(*values)
            return cls(**dict(zip(fields, values, strict=True)))

        return make

    def read(self, cursor: sqlite3.Cursor) -> list[S]:
        """Every row of ``cursor`` (a SELECT of :attr:`select`, maybe with more columns) as a
        record, matched by column name; columns that are not fields are ignored."""
        make = self.reader(cursor)
        return [make(row) for row in cursor]

    def read_one(self, cursor: sqlite3.Cursor) -> S | None:
        """The first row of ``cursor`` as a record, or None when there is none."""
        row = cursor.fetchone()
        if row is None:
            return None
        return self.reader(cursor)(row)

    def read_with(self, cursor: sqlite3.Cursor) -> list[tuple[S, dict[str, Any]]]:
        """Like :meth:`read`, each record with every value of its row by column name (for the
        columns selected beyond the record's fields)."""
        names = [d[0] for d in cursor.description]
        make = self.reader(cursor)
        return [(make(row), dict(zip(names, row, strict=True))) for row in cursor]


def scalar(cursor: sqlite3.Cursor) -> Any:
    """The one value of a query that selects one column of one row (a count, a max);
    None when it returned no row."""
    row = cursor.fetchone()
    if row is None:
        return None
    (value,) = row
    return value
