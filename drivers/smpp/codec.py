"""Bytes <-> PDU values: framing with a hard size cap, encoders and decoders.

The hot PDUs (submit_sm and deliver_sm, their responses, enquire_link, data_sm) are encoded and
decoded here by hand: smpplib spends ~36 µs per submit_sm and ~37 µs per deliver_sm, which alone
would eat a third of the gateway's per-message budget. The tests check these paths byte for byte
against smpplib as the oracle. The rare bind PDUs go through ``smpplib.smpp.make_pdu`` /
``parse_pdu`` with a private sequence holder (smpplib wants a ``client=`` even to parse, and
``sequence=`` given to ``make_pdu`` is ignored on the wire).

Everything that goes wrong on input raises :class:`RemoteProtocolError` (never ``struct.error``
or ``IndexError``); everything we cannot encode raises :class:`LocalProtocolError` (smpplib
would silently truncate an over-long field; we refuse it).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from smpplib import smpp as _smpplib
from smsgw.drivers.smpp.errors import LocalProtocolError, PduTooLarge, RemoteProtocolError
from smsgw.drivers.smpp.pdu import (
    BindMode,
    BindRequest,
    BindResponse,
    Cmd,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    ShortMessagePdu,
    Status,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)

__all__ = [
    "MAX_PDU_SIZE",
    "Framer",
    "command_id_of",
    "decode",
    "encode",
    "encode_header_only",
    "encode_message_id_resp",
    "encode_short_message",
]

MAX_PDU_SIZE = 65536
"""Largest command_length we accept. The spec sets no limit; a real PDU is well under 2 KiB."""

_HEADER = struct.Struct(">IIII")
_TLV_HEAD = struct.Struct(">HH")
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_unpack_tlv = _TLV_HEAD.unpack_from
_pack_tlv = _TLV_HEAD.pack

_BIND_NAMES: dict[BindMode, str] = {"tx": "transmitter", "rx": "receiver", "trx": "transceiver"}
_BIND_BY_CMD: dict[int, BindMode] = {
    Cmd.BIND_TRANSMITTER: "tx",
    Cmd.BIND_RECEIVER: "rx",
    Cmd.BIND_TRANSCEIVER: "trx",
}


class _SequenceHolder:
    """The ``client=`` smpplib insists on; we set each PDU's sequence explicitly."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_SEQ = _SequenceHolder()


def command_id_of(pdu: Pdu) -> int:
    """The command_id ``pdu`` goes on the wire with."""
    if isinstance(pdu, BindRequest | BindResponse | UnknownPdu):
        return pdu.cmd
    return pdu.command_id


# --------------------------------------------------------------------------------------------
# Framing (SMPP 3.4 §3.2: command_length counts the whole PDU including itself)


class Framer:
    """Cuts a byte stream into whole PDUs; holds at most one partial PDU (< 64 KiB) in memory."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> tuple[list[bytes], PduTooLarge | None]:
        """Add ``data``; return the complete PDUs now available and, if the stream broke, why.

        After an error the framer is useless (the stream has no recoverable boundary): the
        caller drops the connection. The PDUs framed before the bad length are still returned.
        """
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data
        frames: list[bytes] = []
        pos = 0
        end = len(src)
        error: PduTooLarge | None = None
        while end - pos >= 4:
            length = int.from_bytes(src[pos : pos + 4], "big")
            if length < 16 or length > MAX_PDU_SIZE:
                error = PduTooLarge(length)
                if end - pos >= 16:
                    error.sequence = int.from_bytes(src[pos + 12 : pos + 16], "big")
                pos = end
                break
            if end - pos < length:
                break
            frames.append(bytes(src[pos : pos + length]))
            pos += length
        if src is buf:
            del buf[:pos]
        elif pos < end:
            self._buf = bytearray(data[pos:])
        return frames, error

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete PDU held back."""
        return len(self._buf)


# --------------------------------------------------------------------------------------------
# Encoding


def _cstr_ok(value: str, max_len: int, name: str) -> None:
    # max_len counts the terminating NUL, as the spec's field tables do.
    if len(value) >= max_len or "\0" in value:
        raise LocalProtocolError(f"{name} {value!r} does not fit a C-Octet String of {max_len}")


def _time_ok(value: str, name: str) -> None:
    # §7.1: a time is either absent (just the NUL) or exactly 16 characters.
    if value and (len(value) != 16 or "\0" in value):
        raise LocalProtocolError(f"{name} {value!r} is not an SMPP time (16 characters)")


def _tlv_bytes(tlvs: tuple[tuple[int, bytes], ...]) -> bytes:
    if not tlvs:
        return b""
    out = []
    for tag, value in tlvs:
        if not 0 <= tag <= 0xFFFF or len(value) > 0xFFFF:
            raise LocalProtocolError(f"TLV 0x{tag:04X} of {len(value)} octets cannot be encoded")
        out.append(_pack_tlv(tag, len(value)))
        out.append(value)
    return b"".join(out)


def encode_short_message(command_id: int, p: ShortMessagePdu, sequence: int) -> bytes:
    """Encode a submit_sm (§4.4.1) or deliver_sm (§4.6.1) body layout by hand.

    Raises :class:`LocalProtocolError` for a field that does not fit its C-Octet String, an
    octet over 255 or a short_message over 254 octets (use message_payload for longer data).
    """
    sm = p.short_message
    if len(sm) > 254:
        raise LocalProtocolError(f"short_message of {len(sm)} octets (max 254)")
    st, sa, da = p.service_type, p.source_addr, p.destination_addr
    sdt, vp = p.schedule_delivery_time, p.validity_period
    if len(st) > 5 or len(sa) > 20 or len(da) > 20 or len(sdt) > 16 or len(vp) > 16:
        _cstr_ok(st, 6, "service_type")
        _cstr_ok(sa, 21, "source_addr")
        _cstr_ok(da, 21, "destination_addr")
    if sdt or vp:
        _time_ok(sdt, "schedule_delivery_time")
        _time_ok(vp, "validity_period")
    try:
        # One format and one encode for the 17 mandatory fields before short_message: this is
        # the fast path; %c turns each 1-octet integer into its Latin-1 character.
        fixed = (
            "%s\0%c%c%s\0%c%c%s\0%c%c%c%s\0%s\0%c%c%c%c%c"  # noqa: UP031 (4x faster than f"{x:c}")
            % (
                st,
                p.source_addr_ton,
                p.source_addr_npi,
                sa,
                p.dest_addr_ton,
                p.dest_addr_npi,
                da,
                p.esm_class,
                p.protocol_id,
                p.priority_flag,
                sdt,
                vp,
                p.registered_delivery,
                p.replace_if_present_flag,
                p.data_coding,
                p.sm_default_msg_id,
                len(sm),
            )
        ).encode("latin-1")
    except (UnicodeEncodeError, OverflowError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode short message PDU: {exc}") from None
    # A NUL inside a string would end it early and shift every later field.
    if "\0" in sa or "\0" in da or "\0" in st or "\0" in sdt or "\0" in vp:
        raise LocalProtocolError("a C-Octet String field holds a NUL")
    tlvs = _tlv_bytes(p.tlvs) if p.tlvs else b""
    length = 16 + len(fixed) + len(sm) + len(tlvs)
    return b"".join((_pack_header(length, command_id, 0, sequence), fixed, sm, tlvs))


def encode_header_only(command_id: int, sequence: int, status: int = 0) -> bytes:
    """A PDU with no body: enquire_link(_resp), unbind(_resp), generic_nack (§4.2, §4.3, §4.11)."""
    return _pack_header(16, command_id, status, sequence)


def encode_message_id_resp(
    command_id: int, sequence: int, status: int = 0, message_id: str = ""
) -> bytes:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp (§4.4.2, §4.6.2, §4.7.2).

    The spec says the body is omitted when status is not 0 (§4.4.2); we do so for submit_sm_resp
    and data_sm_resp. deliver_sm_resp always carries its (empty) message_id.
    """
    if status and command_id != Cmd.DELIVER_SM_RESP:
        return _pack_header(16, command_id, status, sequence)
    _cstr_ok(message_id, 65, "message_id")
    body = message_id.encode("latin-1") + b"\0"
    return _pack_header(16 + len(body), command_id, status, sequence) + body


def _encode_bind(p: BindRequest, sequence: int) -> bytes:
    _cstr_ok(p.system_id, 16, "system_id")
    _cstr_ok(p.password, 9, "password")
    _cstr_ok(p.system_type, 13, "system_type")
    _cstr_ok(p.address_range, 41, "address_range")
    pdu: Any = _smpplib.make_pdu(
        "bind_" + _BIND_NAMES[p.mode],
        client=_SEQ,
        system_id=p.system_id,
        password=p.password,
        system_type=p.system_type,
        addr_ton=p.addr_ton,
        addr_npi=p.addr_npi,
        address_range=p.address_range,
    )
    pdu.interface_version = p.interface_version
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


def _encode_bind_resp(p: BindResponse, sequence: int) -> bytes:
    _cstr_ok(p.system_id, 16, "system_id")
    pdu: Any = _smpplib.make_pdu(
        "bind_" + _BIND_NAMES[p.mode] + "_resp",
        client=_SEQ,
        system_id=p.system_id,
        sc_interface_version=p.sc_interface_version,
    )
    pdu.sequence = sequence
    pdu.status = p.status
    data: bytes = pdu.generate()
    return data


def _encode_data_sm(p: DataSm, sequence: int) -> bytes:
    _cstr_ok(p.service_type, 6, "service_type")
    _cstr_ok(p.source_addr, 21, "source_addr")
    _cstr_ok(p.destination_addr, 21, "destination_addr")
    try:
        fixed = (
            "%s\0%c%c%s\0%c%c%s\0%c%c%c"  # noqa: UP031
            % (
                p.service_type,
                p.source_addr_ton,
                p.source_addr_npi,
                p.source_addr,
                p.dest_addr_ton,
                p.dest_addr_npi,
                p.destination_addr,
                p.esm_class,
                p.registered_delivery,
                p.data_coding,
            )
        ).encode("latin-1")
    except (UnicodeEncodeError, OverflowError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode data_sm: {exc}") from None
    tlvs = _tlv_bytes(p.tlvs)
    return _pack_header(16 + len(fixed) + len(tlvs), Cmd.DATA_SM, 0, sequence) + fixed + tlvs


def encode(pdu: Pdu, sequence: int | None = None) -> bytes:
    """Encode any PDU value; ``sequence`` overrides ``pdu.sequence`` when given.

    Raises :class:`LocalProtocolError` when a field cannot be represented on the wire.
    """
    seq = pdu.sequence if sequence is None else sequence
    if not 0 <= seq <= 0xFFFFFFFF:
        raise LocalProtocolError(f"sequence_number {seq} out of range")
    if isinstance(pdu, SubmitSm | DeliverSm):
        return encode_short_message(pdu.command_id, pdu, seq)
    if isinstance(pdu, SubmitSmResp | DeliverSmResp | DataSmResp):
        return encode_message_id_resp(pdu.command_id, seq, pdu.status, pdu.message_id)
    if isinstance(pdu, EnquireLink | EnquireLinkResp | Unbind | UnbindResp | GenericNack):
        return encode_header_only(pdu.command_id, seq, pdu.status)
    if isinstance(pdu, BindRequest):
        return _encode_bind(pdu, seq)
    if isinstance(pdu, BindResponse):
        return _encode_bind_resp(pdu, seq)
    if isinstance(pdu, DataSm):
        return _encode_data_sm(pdu, seq)
    return _pack_header(16 + len(pdu.body), pdu.cmd, pdu.status, seq) + pdu.body


# --------------------------------------------------------------------------------------------
# Decoding


def _malformed(seq: int, why: str, status: int = Status.RINVCMDLEN) -> RemoteProtocolError:
    return RemoteProtocolError(why, kind="malformed", nack_status=status, sequence=seq)


def _cstr(data: bytes, pos: int, max_len: int, seq: int, name: str) -> tuple[str, int]:
    end = data.find(b"\0", pos, pos + max_len)
    if end < 0:
        raise _malformed(seq, f"{name} is not a NUL-terminated string of at most {max_len}")
    return data[pos:end].decode("latin-1"), end + 1


def _tlvs(data: bytes, pos: int, seq: int) -> tuple[tuple[int, bytes], ...]:
    end = len(data)
    if pos == end:
        return ()
    out = []
    while pos < end:
        if end - pos < 4:
            raise _malformed(seq, "truncated TLV header", Status.RINVOPTPARSTREAM)
        tag, length = _unpack_tlv(data, pos)
        pos += 4
        if end - pos < length:
            raise _malformed(seq, f"TLV 0x{tag:04X} overruns the PDU", Status.RINVPARLEN)
        out.append((tag, data[pos : pos + length]))
        pos += length
    return tuple(out)


def _decode_sm(
    data: bytes, seq: int, status: int, cls: type[SubmitSm] | type[DeliverSm]
) -> SubmitSm | DeliverSm:
    try:
        st, pos = _cstr(data, 16, 6, seq, "service_type")
        ston, snpi = data[pos], data[pos + 1]
        sa, pos = _cstr(data, pos + 2, 21, seq, "source_addr")
        dton, dnpi = data[pos], data[pos + 1]
        da, pos = _cstr(data, pos + 2, 21, seq, "destination_addr")
        esm, pid, prio = data[pos], data[pos + 1], data[pos + 2]
        sdt, pos = _cstr(data, pos + 3, 17, seq, "schedule_delivery_time")
        vp, pos = _cstr(data, pos, 17, seq, "validity_period")
        reg, rep, dc, dflt, sm_len = data[pos : pos + 5]
    except (IndexError, ValueError):
        raise _malformed(seq, "short message PDU body is truncated") from None
    pos += 5
    if len(data) - pos < sm_len:
        raise _malformed(seq, "short_message overruns the PDU", Status.RINVMSGLEN)
    sm = data[pos : pos + sm_len]
    return cls(
        sequence=seq,
        status=status,
        service_type=st,
        source_addr_ton=ston,
        source_addr_npi=snpi,
        source_addr=sa,
        dest_addr_ton=dton,
        dest_addr_npi=dnpi,
        destination_addr=da,
        esm_class=esm,
        protocol_id=pid,
        priority_flag=prio,
        schedule_delivery_time=sdt,
        validity_period=vp,
        registered_delivery=reg,
        replace_if_present_flag=rep,
        data_coding=dc,
        sm_default_msg_id=dflt,
        short_message=sm,
        tlvs=_tlvs(data, pos + sm_len, seq),
    )


def _decode_data_sm(data: bytes, seq: int, status: int) -> DataSm:
    try:
        st, pos = _cstr(data, 16, 6, seq, "service_type")
        ston, snpi = data[pos], data[pos + 1]
        sa, pos = _cstr(data, pos + 2, 21, seq, "source_addr")
        dton, dnpi = data[pos], data[pos + 1]
        da, pos = _cstr(data, pos + 2, 21, seq, "destination_addr")
        esm, reg, dc = data[pos : pos + 3]
    except (IndexError, ValueError):
        raise _malformed(seq, "data_sm body is truncated") from None
    return DataSm(
        sequence=seq,
        status=status,
        service_type=st,
        source_addr_ton=ston,
        source_addr_npi=snpi,
        source_addr=sa,
        dest_addr_ton=dton,
        dest_addr_npi=dnpi,
        destination_addr=da,
        esm_class=esm,
        registered_delivery=reg,
        data_coding=dc,
        tlvs=_tlvs(data, pos + 3, seq),
    )


def _message_id(data: bytes, seq: int, status: int) -> str:
    # §4.4.2: an error response may omit the body; some SMSCs also omit the final NUL of a
    # good one. Neither is worth dropping a session over: the id is what we need.
    if status or len(data) == 16:
        return ""
    end = data.find(b"\0", 16)
    raw = data[16:] if end < 0 else data[16:end]
    if len(raw) > 64:
        raise _malformed(seq, "message_id longer than 64 octets")
    return raw.decode("latin-1")


def _decode_bind(data: bytes, seq: int, status: int, cmd: int) -> BindRequest:
    try:
        parsed: Any = _smpplib.parse_pdu(data, client=_SEQ, allow_unknown_opt_params=True)
        return BindRequest(
            sequence=seq,
            status=status,
            mode=_BIND_BY_CMD[cmd],
            system_id=(parsed.system_id or b"").decode("latin-1"),
            password=(parsed.password or b"").decode("latin-1"),
            system_type=(parsed.system_type or b"").decode("latin-1"),
            interface_version=parsed.interface_version or 0,
            addr_ton=parsed.addr_ton or 0,
            addr_npi=parsed.addr_npi or 0,
            address_range=(parsed.address_range or b"").decode("latin-1"),
        )
    except Exception as exc:  # smpplib raises anything from struct.error to KeyError
        raise _malformed(seq, f"bad bind PDU: {exc!r}") from None


def _decode_bind_resp(data: bytes, seq: int, status: int, cmd: int) -> BindResponse:
    try:
        parsed: Any = _smpplib.parse_pdu(data, client=_SEQ, allow_unknown_opt_params=True)
        system_id = parsed.system_id or b""
        return BindResponse(
            sequence=seq,
            status=status,
            mode=_BIND_BY_CMD[cmd & 0x7FFFFFFF],
            system_id=system_id.decode("latin-1"),
            sc_interface_version=parsed.sc_interface_version,
        )
    except Exception as exc:  # as above
        raise _malformed(seq, f"bad bind response PDU: {exc!r}") from None


def _header_only(cls: type[Pdu]) -> Callable[[bytes, int, int, int], Pdu]:
    def dec(data: bytes, seq: int, status: int, cmd: int) -> Pdu:
        return cls(sequence=seq, status=status)  # type: ignore[call-arg]

    return dec


_DECODERS: dict[int, Callable[[bytes, int, int, int], Pdu]] = {
    Cmd.SUBMIT_SM: lambda d, s, st, c: _decode_sm(d, s, st, SubmitSm),
    Cmd.DELIVER_SM: lambda d, s, st, c: _decode_sm(d, s, st, DeliverSm),
    Cmd.SUBMIT_SM_RESP: lambda d, s, st, c: SubmitSmResp(
        sequence=s, status=st, message_id=_message_id(d, s, st)
    ),
    Cmd.DELIVER_SM_RESP: lambda d, s, st, c: DeliverSmResp(sequence=s, status=st),
    Cmd.DATA_SM: lambda d, s, st, c: _decode_data_sm(d, s, st),
    Cmd.DATA_SM_RESP: lambda d, s, st, c: DataSmResp(
        sequence=s, status=st, message_id=_message_id(d, s, st)
    ),
    Cmd.ENQUIRE_LINK: _header_only(EnquireLink),
    Cmd.ENQUIRE_LINK_RESP: _header_only(EnquireLinkResp),
    Cmd.UNBIND: _header_only(Unbind),
    Cmd.UNBIND_RESP: _header_only(UnbindResp),
    Cmd.GENERIC_NACK: _header_only(GenericNack),
    Cmd.BIND_TRANSMITTER: _decode_bind,
    Cmd.BIND_RECEIVER: _decode_bind,
    Cmd.BIND_TRANSCEIVER: _decode_bind,
    Cmd.BIND_TRANSMITTER_RESP: _decode_bind_resp,
    Cmd.BIND_RECEIVER_RESP: _decode_bind_resp,
    Cmd.BIND_TRANSCEIVER_RESP: _decode_bind_resp,
}


def decode(data: bytes) -> Pdu:
    """Decode one whole PDU (as cut by :class:`Framer`).

    Commands we do not implement come back as :class:`UnknownPdu` (the session answers them
    with generic_nack ESME_RINVCMDID). Raises :class:`RemoteProtocolError` for a body that does
    not parse; its ``sequence`` names the PDU so a generic_nack can refer to it.
    """
    if len(data) < 16:
        raise PduTooLarge(len(data))
    length, cmd, status, seq = _unpack_header(data, 0)
    if length != len(data):
        raise _malformed(seq, f"command_length {length} but {len(data)} octets")
    dec = _DECODERS.get(cmd)
    if dec is None:
        return UnknownPdu(sequence=seq, status=status, cmd=cmd, body=data[16:])
    return dec(data, seq, status, cmd)
