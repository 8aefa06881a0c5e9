"""Rows read by name: records come back right whatever order their columns are selected in."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import msgspec
import pytest

from smsgw.queue.store.sqlite.rows import Columns, scalar


class Part(msgspec.Struct, frozen=True):
    pid: int
    part_status: str


class Message(msgspec.Struct, frozen=True, kw_only=True):
    mid: int
    status: str
    done: bool = False


PART = Columns(Part, prefix="p", columns={"part_status": "p.status"})
MESSAGE = Columns(Message, prefix="m", convert={"done": bool})


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(":memory:")
    c.executescript(
        "CREATE TABLE messages (mid INTEGER PRIMARY KEY, status TEXT, done INTEGER);"
        "CREATE TABLE parts (pid INTEGER PRIMARY KEY, mid INTEGER, status TEXT);"
        "INSERT INTO messages VALUES (1, 'sending', 0), (2, 'delivered', 1);"
        "INSERT INTO parts VALUES (10, 1, 'sending'), (20, 2, 'delivered');"
    )
    yield c
    c.close()


def test_two_records_read_their_own_columns_of_one_join(conn: sqlite3.Connection) -> None:
    # The message's columns first, the part's after: each record finds its fields by name,
    # and "status" of the part and of the message do not mix.
    cur = conn.execute(
        f"SELECT {MESSAGE.select}, {PART.select} FROM parts p JOIN messages m ON m.mid = p.mid"
        " ORDER BY p.pid"
    )
    part_of, message_of = PART.reader(cur), MESSAGE.reader(cur)
    rows = [(part_of(r), message_of(r)) for r in cur]
    assert rows == [
        (Part(10, "sending"), Message(mid=1, status="sending", done=False)),
        (Part(20, "delivered"), Message(mid=2, status="delivered", done=True)),
    ]


def test_a_record_reads_one_row_or_none(conn: sqlite3.Connection) -> None:
    one = f"SELECT {MESSAGE.select} FROM messages m WHERE m.mid = ?"
    assert MESSAGE.read_one(conn.execute(one, (2,))) == Message(
        mid=2, status="delivered", done=True
    )
    assert MESSAGE.read_one(conn.execute(one, (3,))) is None


def test_a_missing_column_is_named(conn: sqlite3.Connection) -> None:
    cur = conn.execute("SELECT mid FROM messages m")
    with pytest.raises(KeyError, match="status"):
        MESSAGE.reader(cur)


def test_an_unknown_field_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="nope"):
        Columns(Part, columns={"nope": "x"})


def test_scalar_reads_the_one_value(conn: sqlite3.Connection) -> None:
    assert scalar(conn.execute("SELECT count(*) FROM parts")) == 2
    assert scalar(conn.execute("SELECT mid FROM messages WHERE mid = 9")) is None
