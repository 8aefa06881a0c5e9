"""The SMPP package's errors, split like h11's: who broke the protocol.

* :class:`LocalProtocolError`: we asked for something the protocol forbids right now (a submit
  while unbound, a field too long to encode, a full window). A bug or a config problem on our
  side; the session is unharmed.
* :class:`RemoteProtocolError`: the peer sent something we cannot accept (a ``command_length``
  over 64 KiB, a truncated body). ``nack_status`` is the command_status a generic_nack to the peer
  should carry (SMPP 3.4 §4.3, §5.1.3); ``kind`` is the bounded metric label.
"""

from __future__ import annotations

__all__ = [
    "PROTOCOL_ERROR_KINDS",
    "LocalProtocolError",
    "PduTooLarge",
    "RemoteProtocolError",
    "SmppError",
]

PROTOCOL_ERROR_KINDS = (
    "malformed", "pdu_too_large", "pdu_too_short", "unknown_command", "unexpected",
    "unexpected_response", "generic_nack", "bind_rejected", "response_timeout", "bad_receipt",
    "bad_inbound", "peer_silent",
)  # fmt: skip
"""Every ``kind`` the SMPP driver counts in ``smsgw_protocol_errors_total{route, kind}``."""


class SmppError(Exception):
    """Base class of every error raised by ``smsgw.drivers.smpp``."""


class LocalProtocolError(SmppError):
    """We tried to do something the protocol or the session's state does not allow."""


class RemoteProtocolError(SmppError):
    """The peer sent bytes that are not a valid SMPP 3.4 PDU.

    ``kind`` is a short, bounded label for ``smsgw_protocol_errors_total{kind}``;
    ``nack_status`` is what to put in a generic_nack (0x02 ESME_RINVCMDLEN for framing,
    0x03 ESME_RINVCMDID for an unknown command, 0xC0-0xC2 for a bad TLV, 0x08 otherwise);
    ``sequence`` is the offending PDU's sequence number when the header was readable.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "malformed",
        nack_status: int = 0x00000008,
        sequence: int = 0,
        fatal: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.nack_status = nack_status
        self.sequence = sequence
        self.fatal = fatal
        """True when the byte stream cannot be trusted any more (drop the session)."""


class PduTooLarge(RemoteProtocolError):
    """A ``command_length`` outside 16..65536: the stream cannot be framed any more."""

    def __init__(self, length: int) -> None:
        super().__init__(
            f"command_length {length} is outside 16..65536",
            kind="pdu_too_large" if length > 16 else "pdu_too_short",
            nack_status=0x00000002,
        )
        self.length = length
