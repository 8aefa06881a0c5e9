"""Properties of the SMPP PDU codec and framer (drivers/smpp/codec.py, pdu.py).

Whatever an SMSC sends, :func:`decode` gives a PDU value or raises
:class:`RemoteProtocolError`; the :class:`Framer` cuts any byte stream into whole PDUs or names
the bad length, holding less than one PDU's cap in memory; every PDU we can encode decodes back
to itself; and a PDU we decoded either encodes back to the same value or is refused with
:class:`LocalProtocolError` (never a bare ``struct.error``, ``IndexError`` or ``ValueError``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from smsgw.drivers.smpp.codec import MAX_PDU_SIZE, Framer, command_id_of, decode, encode
from smsgw.drivers.smpp.errors import LocalProtocolError, PduTooLarge, RemoteProtocolError
from smsgw.drivers.smpp.pdu import (
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
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    UnknownPdu,
    is_response,
)
from tests.property_helpers import budget, mutated

# -- values --------------------------------------------------------------------------------

octets = st.integers(0, 255)
words = st.integers(0, 0xFFFFFFFF)
sequences = st.integers(0, 0xFFFFFFFF)
# C-Octet Strings are Latin-1 text without NUL; max_len counts the NUL, as the spec does.
_latin1 = st.characters(min_codepoint=1, max_codepoint=255)


def cstr(max_len: int) -> st.SearchStrategy[str]:
    return st.text(_latin1, max_size=max_len - 1)


smpp_time = st.just("") | st.text(_latin1, min_size=16, max_size=16)
tlvs = st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=64)), max_size=4).map(tuple)
_known = {
    Cmd.SUBMIT_SM, Cmd.DELIVER_SM, Cmd.SUBMIT_SM_RESP, Cmd.DELIVER_SM_RESP, Cmd.DATA_SM,
    Cmd.DATA_SM_RESP, Cmd.ENQUIRE_LINK, Cmd.ENQUIRE_LINK_RESP, Cmd.UNBIND, Cmd.UNBIND_RESP,
    Cmd.GENERIC_NACK, Cmd.BIND_TRANSMITTER, Cmd.BIND_RECEIVER, Cmd.BIND_TRANSCEIVER,
    Cmd.BIND_TRANSMITTER_RESP, Cmd.BIND_RECEIVER_RESP, Cmd.BIND_TRANSCEIVER_RESP,
}  # fmt: skip


def _sm_fields() -> dict[str, st.SearchStrategy[Any]]:
    # A request's command_status is always 0 on the wire (§5.1.3): it is not generated.
    return {
        "sequence": sequences,
        "service_type": cstr(6),
        "source_addr_ton": octets,
        "source_addr_npi": octets,
        "source_addr": cstr(21),
        "dest_addr_ton": octets,
        "dest_addr_npi": octets,
        "destination_addr": cstr(21),
        "esm_class": octets,
        "protocol_id": octets,
        "priority_flag": octets,
        "schedule_delivery_time": smpp_time,
        "validity_period": smpp_time,
        "registered_delivery": octets,
        "replace_if_present_flag": octets,
        "data_coding": octets,
        "sm_default_msg_id": octets,
        "short_message": st.binary(max_size=254),
        "tlvs": tlvs,
    }


_resp = st.one_of(
    st.builds(lambda s, m: (s, 0, m), sequences, cstr(65)),
    st.builds(lambda s, status: (s, status, ""), sequences, st.integers(1, 0xFFFFFFFF)),
)
bind_modes = st.sampled_from(["tx", "rx", "trx"])

pdus: st.SearchStrategy[Pdu] = st.one_of(
    st.builds(SubmitSm, **_sm_fields()),
    st.builds(DeliverSm, **_sm_fields()),
    _resp.map(lambda r: SubmitSmResp(sequence=r[0], status=r[1], message_id=r[2])),
    _resp.map(lambda r: DataSmResp(sequence=r[0], status=r[1], message_id=r[2])),
    st.builds(DeliverSmResp, sequence=sequences, status=words),
    *(
        st.builds(cls, sequence=sequences, status=words)
        for cls in (EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack)
    ),
    st.builds(
        BindRequest,
        sequence=sequences,
        mode=bind_modes,
        system_id=cstr(16),
        password=cstr(9),
        system_type=cstr(13),
        interface_version=octets,
        addr_ton=octets,
        addr_npi=octets,
        address_range=cstr(41),
    ),
    st.builds(
        BindResponse,
        sequence=sequences,
        status=words,
        mode=bind_modes,
        system_id=cstr(16),
        sc_interface_version=st.none() | octets,
    ),
    st.builds(
        DataSm,
        sequence=sequences,
        service_type=cstr(6),
        source_addr_ton=octets,
        source_addr_npi=octets,
        source_addr=cstr(21),
        dest_addr_ton=octets,
        dest_addr_npi=octets,
        destination_addr=cstr(21),
        esm_class=octets,
        registered_delivery=octets,
        data_coding=octets,
        tlvs=tlvs,
    ),
    st.builds(
        UnknownPdu,
        sequence=sequences,
        status=words,
        cmd=words.filter(lambda c: c not in _known),
        body=st.binary(max_size=100),
    ),
)


valid_wire = pdus.map(encode)


def _check_decoded(data: bytes) -> None:
    try:
        pdu = decode(data)
    except RemoteProtocolError as e:
        assert e.kind and 0 <= e.sequence <= 0xFFFFFFFF and 0 <= e.nack_status <= 0xFFFFFFFF
        return
    try:
        again = encode(pdu)
    except LocalProtocolError:
        return  # a field the decoder tolerates but we would never write (a 5-char time)
    back = decode(again)
    if not is_response(command_id_of(pdu)) and not isinstance(pdu, UnknownPdu):
        # A request's command_status means nothing (§5.1.3); some encoders write it as 0.
        pdu, back = (msgspec.structs.replace(p, status=0) for p in (pdu, back))
    assert back == pdu


# -- properties ------------------------------------------------------------------------------


@budget(300)
@given(pdus)
def test_every_pdu_round_trips(pdu: Pdu) -> None:
    data = encode(pdu)
    assert int.from_bytes(data[:4], "big") == len(data)
    assert decode(data) == pdu


@budget(300)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    _check_decoded(data)


@budget(300)
@given(
    st.sampled_from(sorted(_known)),
    st.binary(max_size=120),
    words,
    sequences,
)
def test_random_bodies_under_every_command_decode_or_raise(
    cmd: int, body: bytes, status: int, seq: int
) -> None:
    header = (16 + len(body)).to_bytes(4, "big") + cmd.to_bytes(4, "big")
    _check_decoded(header + status.to_bytes(4, "big") + seq.to_bytes(4, "big") + body)


@budget(500)
@given(mutated(valid_wire, length_fields=((0, 4),)))
def test_mutated_pdus_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    _check_decoded(data)


def _receipt_wire() -> st.SearchStrategy[bytes]:
    text = st.sampled_from(
        [
            b"id:0A1B2C3D sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
            b"stat:DELIVRD err:000 text:",
            b"id:1234 stat:UNDELIV err:0x0B",
        ]
    )
    return st.builds(
        lambda sm, seq: encode(
            DeliverSm(
                source_addr="4917012345678",
                destination_addr="Shop",
                esm_class=0x04,
                short_message=sm,
                tlvs=((Tag.RECEIPTED_MESSAGE_ID, b"0A1B2C3D\0"), (Tag.MESSAGE_STATE, b"\x02")),
            ),
            seq,
        ),
        text,
        sequences,
    )


@budget(300)
@given(mutated(_receipt_wire(), length_fields=((0, 4),), max_ops=6))
def test_mutated_receipts_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    _check_decoded(data)


# -- framing ---------------------------------------------------------------------------------


@budget(200)
@given(st.lists(valid_wire, max_size=6), st.lists(st.integers(1, 200), max_size=12))
def test_framer_gives_back_the_pdus_whatever_the_cuts(wire: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(wire)
    framer = Framer()
    frames: list[bytes] = []
    pos = 0
    for step in [*cuts, len(stream)]:
        got, error = framer.feed(stream[pos : pos + step])
        assert error is None
        frames += got
        pos += step
        assert framer.buffered < MAX_PDU_SIZE
        if pos >= len(stream):
            break
    frames += framer.feed(stream[pos:])[0]
    assert frames == wire and framer.buffered == 0


@budget(300)
@given(st.lists(st.binary(max_size=300) | mutated(valid_wire, length_fields=((0, 4),)), max_size=8))
def test_framer_on_any_stream_frames_or_names_the_length(chunks: list[bytes]) -> None:
    framer = Framer()
    fed = framed = 0
    for chunk in chunks:
        fed += len(chunk)
        frames, error = framer.feed(chunk)
        for f in frames:
            assert 16 <= len(f) <= MAX_PDU_SIZE and int.from_bytes(f[:4], "big") == len(f)
            framed += len(f)
        assert framer.buffered < MAX_PDU_SIZE
        if error is not None:
            assert isinstance(error, PduTooLarge)
            assert not 16 <= error.length <= MAX_PDU_SIZE
            return  # the stream is broken: the caller drops the connection
        # Nothing is invented or lost: what was fed is framed or held.
        assert framed + framer.buffered == fed


@budget(100)
@given(st.integers(0, 15) | st.integers(MAX_PDU_SIZE + 1, 0xFFFFFFFF), st.binary(max_size=40))
def test_a_length_out_of_bounds_breaks_the_stream_at_once(length: int, rest: bytes) -> None:
    frames, error = Framer().feed(length.to_bytes(4, "big") + rest)
    assert frames == [] and isinstance(error, PduTooLarge) and error.length == length
