"""The ops console's memory of recent errors: a bounded ring fed by a logging handler.

Everything smsgw logs at WARNING or above under the ``smsgw`` logger (a bind lost, a modem
gone, a webhook given up, a task that failed) lands in a ring of the last :data:`RING_SIZE`
entries; the last entry of each source named in ``keep_last`` is kept apart too, so the
console can say "last webhook failure" even after fifty other errors. Memory is bounded, and
the cost is one append per warning: nothing on the dispatch path logs per message.
"""

from __future__ import annotations

import logging
from collections import deque

import msgspec

__all__ = ["RING_SIZE", "ErrorRing", "LoggedError"]

RING_SIZE = 50
_MAX_TEXT = 500
"""Characters of a message kept (a traceback or a huge peer reply is cut, marked with …)."""


class LoggedError(msgspec.Struct, frozen=True):
    """One logged warning or error."""

    at: float
    """Unix seconds."""
    level: str
    source: str
    """The logger's name (``smsgw.smpp``, ``smsgw.webhooks``...)."""
    message: str


class ErrorRing(logging.Handler):
    """A logging handler keeping the last :data:`RING_SIZE` warnings and errors.

    Attach with :meth:`attach` (to the ``smsgw`` logger) and detach with :meth:`detach`;
    :meth:`entries` returns them newest first. Thread-safe (the store's writer thread logs
    too): ``logging`` holds the handler's lock around :meth:`emit`.
    """

    def __init__(
        self,
        size: int = RING_SIZE,
        *,
        keep_last: tuple[str, ...] = ("smsgw.webhooks",),
        logger: str = "smsgw",
    ) -> None:
        super().__init__(logging.WARNING)
        self._ring: deque[LoggedError] = deque(maxlen=size)
        self._keep = keep_last
        self._last: dict[str, LoggedError] = {}
        self._logger = logging.getLogger(logger)

    def attach(self) -> None:
        self._logger.addHandler(self)

    def detach(self) -> None:
        self._logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string in someone's log call: keep the raw one
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text} ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        if len(text) > _MAX_TEXT:
            text = text[: _MAX_TEXT - 1] + "…"
        entry = LoggedError(record.created, record.levelname.lower(), record.name, text)
        self._ring.append(entry)
        for prefix in self._keep:
            if record.name.startswith(prefix):
                self._last[prefix] = entry

    def entries(self) -> list[LoggedError]:
        """The ring, newest first."""
        return list(reversed(self._ring))

    def last(self, source: str) -> LoggedError | None:
        """The last entry logged by ``source`` (one of ``keep_last``), if any."""
        return self._last.get(source)
