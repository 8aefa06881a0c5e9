"""The PDUs only an SMSC-role session reads or writes beyond the shared codec: query_sm and
cancel_sm in (SMPP 3.4 §4.8, §4.9), query_sm_resp out.

:func:`smsgw.drivers.smpp.codec.decode` turns query_sm and cancel_sm into an
:class:`~smsgw.drivers.smpp.pdu.UnknownPdu` (an ESME answers them with generic_nack, unread);
the server session reads their bodies with the decoders here. Input errors raise
:class:`RemoteProtocolError`; what cannot be encoded raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

from smsgw.drivers.smpp.codec import _cstr, _cstr_ok, _malformed, _pack_header, _time_ok
from smsgw.drivers.smpp.errors import LocalProtocolError
from smsgw.drivers.smpp.pdu import CancelSm, Cmd, QuerySm, UnknownPdu

__all__ = ["decode_cancel_sm", "decode_query_sm", "encode_query_sm_resp"]


def _sm_body(pdu: UnknownPdu) -> bytes:
    # The decoders below read from offset 16, as the others do on a whole PDU.
    return bytes(16) + pdu.body


def decode_query_sm(pdu: UnknownPdu) -> QuerySm:
    """Read a query_sm (§4.8.1) body. Raises :class:`RemoteProtocolError` (not fatal: the
    stream is still framed) when it does not parse."""
    data, seq = _sm_body(pdu), pdu.sequence
    try:
        message_id, pos = _cstr(data, 16, 65, seq, "message_id")
        ton, npi = data[pos], data[pos + 1]
        source, pos = _cstr(data, pos + 2, 21, seq, "source_addr")
    except IndexError:
        raise _malformed(seq, "query_sm body is truncated") from None
    return QuerySm(
        sequence=seq,
        message_id=message_id,
        source_addr_ton=ton,
        source_addr_npi=npi,
        source_addr=source,
    )


def decode_cancel_sm(pdu: UnknownPdu) -> CancelSm:
    """Read a cancel_sm (§4.9.1) body; raises like :func:`decode_query_sm`."""
    data, seq = _sm_body(pdu), pdu.sequence
    try:
        service_type, pos = _cstr(data, 16, 6, seq, "service_type")
        message_id, pos = _cstr(data, pos, 65, seq, "message_id")
        ston, snpi = data[pos], data[pos + 1]
        source, pos = _cstr(data, pos + 2, 21, seq, "source_addr")
        dton, dnpi = data[pos], data[pos + 1]
        dest, pos = _cstr(data, pos + 2, 21, seq, "destination_addr")
    except IndexError:
        raise _malformed(seq, "cancel_sm body is truncated") from None
    return CancelSm(
        sequence=seq,
        service_type=service_type,
        message_id=message_id,
        source_addr_ton=ston,
        source_addr_npi=snpi,
        source_addr=source,
        dest_addr_ton=dton,
        dest_addr_npi=dnpi,
        destination_addr=dest,
    )


def encode_query_sm_resp(
    sequence: int,
    status: int = 0,
    *,
    message_id: str = "",
    final_date: str = "",
    message_state: int = 0,
    error_code: int = 0,
) -> bytes:
    """query_sm_resp (§4.8.2): message_id, final_date, message_state, error_code; the body is
    omitted when ``status`` is an error, as for submit_sm_resp."""
    if status:
        return _pack_header(16, Cmd.QUERY_SM_RESP, status, sequence)
    _cstr_ok(message_id, 65, "message_id")
    _time_ok(final_date, "final_date")
    try:
        body = (
            message_id.encode("latin-1")
            + b"\0"
            + final_date.encode("latin-1")
            + b"\0"
            + bytes((message_state, error_code))
        )
    except (UnicodeEncodeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode query_sm_resp: {exc}") from None
    return _pack_header(16 + len(body), Cmd.QUERY_SM_RESP, 0, sequence) + body
