"""The store's SQLite schema, versioned: each migration runs once, in order, in one transaction.

``PRAGMA user_version`` holds the version. A database newer than this code is refused rather
than guessed at.

Layout notes (why, not what):
* The queue lives on disk. ``parts_ready`` is a partial index holding only parts that may leave
  now, ordered the way the scheduler claims them (route, class priority, arrival), so a claim is
  an index range read however many messages wait for later.
* Parts of one message are inserted together and get consecutive ``pid``s; a message keeps its
  first pid, so its parts are a rowid range and need no index of their own.
* ``messages_active`` holds only unfinished messages by class and age: the oldest-age gauge and
  the expiry sweep read its head.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "NotAStore", "SchemaTooNew", "migrate"]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer smsgw."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this smsgw ({SCHEMA_VERSION})"
        )
        self.found = found


class NotAStore(RuntimeError):
    """An SQLite database, but not an smsgw store (another program's tables)."""


_MIGRATIONS: tuple[str, ...] = (
    # 1: the spine.
    """
    CREATE TABLE messages (
        mid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        client_ref TEXT,
        msg_class TEXT NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        to_number TEXT NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        encoding TEXT NOT NULL,
        parts_total INTEGER NOT NULL,
        first_pid INTEGER NOT NULL,
        ref INTEGER NOT NULL,
        ref_bits INTEGER NOT NULL,
        routes TEXT NOT NULL,
        route TEXT NOT NULL,
        callback_url TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        send_at REAL,
        expires_at REAL NOT NULL,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX messages_client_ref ON messages(key, client_ref)
        WHERE client_ref IS NOT NULL;
    CREATE INDEX messages_active ON messages(priority, mid) WHERE done = 0;

    CREATE TABLE parts (
        pid INTEGER PRIMARY KEY,
        mid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        route TEXT NOT NULL,
        priority INTEGER NOT NULL,
        due_at REAL,
        carrier_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        sent_at REAL,
        submitted_at REAL,
        done_at REAL,
        error TEXT
    );
    CREATE INDEX parts_ready ON parts(route, priority, pid) WHERE status = 'queued';
    CREATE INDEX parts_due ON parts(due_at) WHERE status IN ('scheduled', 'deferred');
    CREATE INDEX parts_sending ON parts(sent_at) WHERE status = 'sending';
    CREATE INDEX parts_carrier ON parts(route, carrier_id) WHERE carrier_id IS NOT NULL;

    CREATE TABLE history (
        mid INTEGER NOT NULL,
        at REAL NOT NULL,
        status TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX history_mid ON history(mid);

    CREATE TABLE pending_receipts (
        route TEXT NOT NULL,
        carrier_id TEXT NOT NULL,
        state TEXT NOT NULL,
        error_code TEXT NOT NULL DEFAULT '',
        done_at REAL,
        received_at REAL NOT NULL
    );
    CREATE INDEX pending_receipts_id ON pending_receipts(route, carrier_id);

    CREATE TABLE webhooks (
        wid INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        url TEXT NOT NULL,
        body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        created_at REAL NOT NULL,
        last_error TEXT
    );
    CREATE INDEX webhooks_due ON webhooks(next_at);

    CREATE TABLE inbound (
        iid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        route TEXT NOT NULL,
        sender TEXT NOT NULL,
        to_number TEXT NOT NULL,
        text TEXT NOT NULL,
        received_at REAL NOT NULL,
        parts INTEGER NOT NULL,
        complete INTEGER NOT NULL
    );
    """,
    # 2: consent and courtesy (opt-outs, consent records, quiet hours, frequency caps).
    # optout_events is the audit trail: rows are only ever inserted. optouts is derived from it
    # (one row per number and scope currently opted out, naming the event that did it) so the
    # accept and dispatch checks are one primary-key probe. marketing_sends holds one row per
    # capped message: its planned time while it waits, the time it left once it did.
    """
    ALTER TABLE messages ADD COLUMN tz TEXT;
    ALTER TABLE messages ADD COLUMN country TEXT;

    CREATE TABLE optout_events (
        eid INTEGER PRIMARY KEY,
        number TEXT NOT NULL,
        scope TEXT NOT NULL,
        action TEXT NOT NULL,
        source TEXT NOT NULL,
        at REAL NOT NULL,
        inbound_id TEXT,
        key TEXT,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX optout_events_number ON optout_events(number, eid);

    CREATE TABLE optouts (
        number TEXT NOT NULL,
        scope TEXT NOT NULL,
        eid INTEGER NOT NULL,
        PRIMARY KEY (number, scope)
    ) WITHOUT ROWID;
    CREATE INDEX optouts_eid ON optouts(eid);

    CREATE TABLE consents (
        cid INTEGER PRIMARY KEY,
        number TEXT NOT NULL,
        scope TEXT NOT NULL,
        source TEXT NOT NULL,
        at REAL NOT NULL,
        text_shown TEXT NOT NULL DEFAULT '',
        evidence TEXT NOT NULL DEFAULT '',
        key TEXT,
        inbound_id TEXT,
        recorded_at REAL NOT NULL
    );
    CREATE INDEX consents_number ON consents(number, at);

    CREATE TABLE marketing_sends (
        mid INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        number TEXT NOT NULL,
        at REAL NOT NULL,
        left_at REAL
    );
    CREATE INDEX marketing_sends_number ON marketing_sends(number, at);
    """,
    # 3: a webhook delivery taken by a process that then died is due again at the next start,
    # not when its lease would have run out.
    """
    ALTER TABLE webhooks ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: an inbound message belongs to the API key its route or number is assigned to (NULL:
    # to none; admin keys see those). Rows stored before have no owner.
    """
    ALTER TABLE inbound ADD COLUMN key TEXT;
    CREATE INDEX inbound_key ON inbound(key, iid);
    """,
    # 5: webhooks delivered in order per message, fairly per key and receiver, with a stable
    # event id (receivers drop duplicates by it); a message may ask for its final status only.
    # webhooks_claim holds only rows waiting to be taken, per key and receiver (origin) by due
    # time, so a claim is an index range read however many rows a dead receiver has piled up.
    # A delivery that failed for good stays (dead = 1, with its last_error) for a week.
    """
    ALTER TABLE messages ADD COLUMN webhook_events TEXT;
    ALTER TABLE webhooks ADD COLUMN mid INTEGER;
    ALTER TABLE webhooks ADD COLUMN event_id TEXT;
    ALTER TABLE webhooks ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    ALTER TABLE webhooks ADD COLUMN dead INTEGER NOT NULL DEFAULT 0;
    UPDATE webhooks SET event_id = 'evt_' || lower(hex(randomblob(10))) WHERE event_id IS NULL;
    DROP INDEX webhooks_due;
    CREATE INDEX webhooks_claim ON webhooks(key, origin, next_at) WHERE leased = 0 AND dead = 0;
    CREATE INDEX webhooks_message ON webhooks(mid, wid) WHERE mid IS NOT NULL;
    """,
    # 6: where the health probe writes (and deletes in the same transaction) while the store
    # is unavailable: a commit here means pages can be allocated and written again.
    """
    CREATE TABLE store_probe (n INTEGER PRIMARY KEY, pad BLOB NOT NULL);
    """,
    # 7: the ops console counts today's opt-outs: a range of this index, not a table scan.
    """
    CREATE INDEX optout_events_at ON optout_events(at);
    """,
    # 8: the SMPP server's receipts. smpp_origin marks a message accepted from an SMPP
    # account that asked for a receipt; at its final status the row becomes an smpp_held
    # receipt, kept until the client acknowledges it or the account's hold runs out. An
    # inbound message for an account is held there too (kind 'inbound', mid 0, its text).
    """
    CREATE TABLE smpp_origin (mid INTEGER PRIMARY KEY, account TEXT NOT NULL);
    CREATE TABLE smpp_held (
        hid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        mid INTEGER NOT NULL,
        public_id TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        submitted_at REAL NOT NULL,
        done_at REAL NOT NULL,
        sender TEXT NOT NULL,
        to_number TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'receipt',
        text TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX smpp_held_account ON smpp_held(account, hid);
    CREATE INDEX smpp_held_done ON smpp_held(done_at);
    """,
    # 9: message templates, one name per API key; variants is a JSON object (locale -> text).
    """
    CREATE TABLE templates (
        tid INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        variants TEXT NOT NULL DEFAULT '{}',
        msg_class TEXT,
        description TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX templates_name ON templates(key, name);
    """,
    # 10: a message records the template its text was rendered from (NULL: sent as text).
    """
    ALTER TABLE messages ADD COLUMN template TEXT;
    """,
    # 11: tracked links. A link row is written in the accept transaction of its message; its
    # code is the key a redirect looks up, so the table is clustered on it. The counters on
    # the row answer a message's GET without reading its clicks; each click is kept too (who
    # and when, for attribution), with the message, recipient and key it is attributed to.
    """
    CREATE TABLE links (
        code TEXT PRIMARY KEY,
        mid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        to_number TEXT NOT NULL,
        url TEXT NOT NULL,
        short_url TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        clicks INTEGER NOT NULL DEFAULT 0,
        previews INTEGER NOT NULL DEFAULT 0,
        first_click_at REAL
    ) WITHOUT ROWID;
    CREATE INDEX links_message ON links(mid, seq);
    CREATE TABLE clicks (
        cid INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        mid INTEGER NOT NULL,
        key TEXT NOT NULL,
        to_number TEXT NOT NULL,
        at REAL NOT NULL,
        user_agent TEXT NOT NULL,
        preview INTEGER NOT NULL
    );
    CREATE INDEX clicks_message ON clicks(mid, cid);
    """,
    # 12: "only once": a message with a dedupe_key holds (key, number, dedupe_key) until the end
    # of its window; a second one inside it finds the first by primary key, in the accept
    # transaction. Entries whose window ended are pruned by expiry time.
    """
    CREATE TABLE dedupe (
        key TEXT NOT NULL,
        to_number TEXT NOT NULL,
        dedupe_key TEXT NOT NULL,
        mid INTEGER NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (key, to_number, dedupe_key)
    ) WITHOUT ROWID;
    CREATE INDEX dedupe_expires ON dedupe(expires_at);
    """,
    # 13: flows: events as reported, runs (one flow for one number), and each run's next step as
    # a durable timer (only the next one exists; the partial index holds the waiting ones).
    """
    CREATE TABLE flow_events (
        eid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        type TEXT NOT NULL,
        number TEXT NOT NULL,
        ref TEXT,
        data TEXT NOT NULL,
        at REAL NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE INDEX flow_events_number ON flow_events (key, number, type, at);
    CREATE TABLE flow_runs (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        flow TEXT NOT NULL,
        number TEXT NOT NULL,
        ref TEXT,
        data TEXT NOT NULL,
        event TEXT NOT NULL,
        trigger_at REAL NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        stopped_by TEXT
    );
    CREATE INDEX flow_runs_number ON flow_runs (key, flow, number, trigger_at);
    CREATE TABLE flow_steps (
        sid INTEGER PRIMARY KEY,
        rid INTEGER NOT NULL REFERENCES flow_runs (rid),
        n INTEGER NOT NULL,
        due_at REAL NOT NULL,
        state TEXT NOT NULL,
        message TEXT,
        event TEXT,
        reason TEXT,
        done_at REAL,
        UNIQUE (rid, n)
    );
    CREATE INDEX flow_steps_due ON flow_steps (due_at, sid) WHERE state = 'waiting';
    """,
    # 14: contacts, one per (API key, number), tags and attributes as JSON; segments, saved
    # filters over a key's contacts, one name per key, the filter as JSON.
    """
    CREATE TABLE contacts (
        cid INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        number TEXT NOT NULL,
        first_name TEXT NOT NULL DEFAULT '',
        last_name TEXT NOT NULL DEFAULT '',
        locale TEXT,
        time_zone TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        attributes TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX contacts_number ON contacts(key, number);
    CREATE INDEX contacts_page ON contacts(key, cid);
    CREATE TABLE segments (
        sid INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        rules TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX segments_name ON segments(key, name);
    """,
    # 15: conversions: orders reported by a key, one per (key, order_id), each with the message it
    # is attributed to (mid, NULL when none qualified) and how (attributed_by). Campaigns and
    # flows join in through the message. The indexes find a number's last click and its last
    # delivered marketing message in the attribution window, and a message's flow step.
    """
    CREATE TABLE conversions (
        vid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        order_id TEXT NOT NULL,
        value TEXT NOT NULL,
        currency TEXT NOT NULL,
        number TEXT,
        code TEXT,
        client_ref TEXT,
        at REAL NOT NULL,
        created_at REAL NOT NULL,
        mid INTEGER,
        attributed_by TEXT
    );
    CREATE UNIQUE INDEX conversions_order ON conversions(key, order_id);
    CREATE INDEX conversions_page ON conversions(key, vid);
    CREATE INDEX conversions_message ON conversions(mid, vid) WHERE mid IS NOT NULL;
    CREATE INDEX clicks_number ON clicks(key, to_number, at) WHERE preview = 0;
    CREATE INDEX messages_delivered_marketing ON messages(key, to_number, updated_at)
        WHERE msg_class = 'marketing' AND status = 'delivered';
    CREATE INDEX flow_steps_message ON flow_steps(message) WHERE message IS NOT NULL;
    """,
    # 16: campaigns: drafts with their spec as JSON (a draft's list of recipients apart, read at
    # start only), and the recipients fixed at start.
    """
    CREATE TABLE campaigns (
        cid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        listed INTEGER,
        recipients TEXT,
        state TEXT NOT NULL,
        gen INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL
    );
    CREATE INDEX campaigns_page ON campaigns(key, cid);
    CREATE INDEX campaigns_state ON campaigns(state);
    CREATE TABLE campaign_recipients (
        cid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        number TEXT NOT NULL,
        vars TEXT NOT NULL DEFAULT '{}',
        variant INTEGER NOT NULL,
        state TEXT NOT NULL,
        message TEXT,
        reason TEXT,
        PRIMARY KEY (cid, seq)
    ) WITHOUT ROWID;
    CREATE INDEX campaign_recipients_state ON campaign_recipients(cid, state, seq);
    CREATE INDEX campaign_recipients_message ON campaign_recipients(cid, message);
    """,
    """
    ALTER TABLE campaigns ADD COLUMN ab_winner INTEGER;
    ALTER TABLE campaigns ADD COLUMN ab_decided_at REAL;
    ALTER TABLE campaigns ADD COLUMN ab_reason TEXT;
    ALTER TABLE campaign_recipients ADD COLUMN accepted_at REAL;
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version it found.

    Raises :class:`SchemaTooNew` for a store of a newer smsgw and :class:`NotAStore` for a
    database that holds another program's tables; neither is touched.
    """
    ((version_found,),) = conn.execute("PRAGMA user_version").fetchall()
    found = int(version_found)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if (found == 0 and tables) or (found > 0 and "messages" not in tables):
        shown = ", ".join(sorted(tables)[:3]) or "none"
        raise NotAStore(f"it holds tables smsgw did not make ({shown}), schema {found}")
    for version in range(found, SCHEMA_VERSION):
        # executescript commits first; run each migration's statements in our own transaction.
        statements = [s.strip() for s in _MIGRATIONS[version].split(";") if s.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
