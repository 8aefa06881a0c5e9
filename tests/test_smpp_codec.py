"""The SMPP codec: hand-written hot paths checked byte for byte against smpplib (the oracle),
round trips, framing with its 64 KiB cap, and that garbage only ever gives a typed error."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smpplib import smpp as smpplib_smpp

from smsgw.drivers.smpp.codec import MAX_PDU_SIZE, Framer, decode, encode
from smsgw.drivers.smpp.errors import LocalProtocolError, PduTooLarge, RemoteProtocolError
from smsgw.drivers.smpp.pdu import (
    BindRequest,
    BindResponse,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Tag,
    UnknownPdu,
)


class _Holder:
    """smpplib wants a client with a sequence even to parse."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


def _smpplib_generate(command: str, sequence: int, **fields: Any) -> bytes:
    pdu: Any = smpplib_smpp.make_pdu(command, client=_Holder(), **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


def _smpplib_parse(data: bytes) -> Any:
    return smpplib_smpp.parse_pdu(data, client=_Holder(), allow_unknown_opt_params=True)


octet = st.integers(0, 255)
latin1 = st.characters(min_codepoint=1, max_codepoint=255)
ascii_ = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
smpp_time = st.one_of(
    st.just(""),
    st.from_regex(r"\A[0-9]{12}[0-9][0-4][0-9][+\-R]\Z"),
)


@st.composite
def short_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Field values for submit_sm/deliver_sm that smpplib can also generate.

    TLVs come in smpplib's params_order (user_message_reference, sar_*, message_payload), since
    it emits known TLVs in that order whatever order they were given in.
    """
    fields: dict[str, Any] = {
        "service_type": draw(st.text(latin1, max_size=5)),
        "source_addr_ton": draw(octet),
        "source_addr_npi": draw(octet),
        "source_addr": draw(st.text(latin1, max_size=20)),
        "dest_addr_ton": draw(octet),
        "dest_addr_npi": draw(octet),
        "destination_addr": draw(st.text(latin1, max_size=20)),
        "esm_class": draw(octet),
        "protocol_id": draw(octet),
        "priority_flag": draw(octet),
        "schedule_delivery_time": draw(smpp_time),
        "validity_period": draw(smpp_time),
        "registered_delivery": draw(octet),
        "replace_if_present_flag": draw(octet),
        "data_coding": draw(octet),
        "sm_default_msg_id": draw(octet),
    }
    payload = draw(st.booleans())
    tlvs: list[tuple[int, bytes]] = []
    smpplib_tlvs: dict[str, Any] = {}
    if draw(st.booleans()):
        umr = draw(st.integers(0, 0xFFFF))
        tlvs.append((0x0204, struct.pack(">H", umr)))
        smpplib_tlvs["user_message_reference"] = umr
    if draw(st.booleans()):
        ref, total, seq = draw(st.integers(0, 0xFFFF)), draw(octet), draw(octet)
        tlvs += [
            (Tag.SAR_MSG_REF_NUM, struct.pack(">H", ref)),
            (Tag.SAR_TOTAL_SEGMENTS, bytes([total])),
            (Tag.SAR_SEGMENT_SEQNUM, bytes([seq])),
        ]
        smpplib_tlvs.update(sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq)
    if payload:
        data = draw(st.binary(min_size=1, max_size=600))
        tlvs.append((Tag.MESSAGE_PAYLOAD, data))
        smpplib_tlvs["message_payload"] = data
        fields["short_message"] = b""
    else:
        fields["short_message"] = draw(st.binary(max_size=254))
    return {"fields": fields, "tlvs": tuple(tlvs), "smpplib_tlvs": smpplib_tlvs}


@settings(max_examples=300, deadline=None)
@given(short_messages(), st.integers(1, 0x7FFFFFFF))
def test_submit_sm_encoder_matches_smpplib_byte_for_byte(sm: dict[str, Any], seq: int) -> None:
    ours = encode(SubmitSm(**sm["fields"], tlvs=sm["tlvs"]), seq)
    oracle = _smpplib_generate("submit_sm", seq, **sm["fields"], **sm["smpplib_tlvs"])
    assert ours == oracle


@settings(max_examples=200, deadline=None)
@given(short_messages(), st.integers(1, 0x7FFFFFFF))
def test_deliver_sm_decoder_reads_what_smpplib_wrote(sm: dict[str, Any], seq: int) -> None:
    data = _smpplib_generate("deliver_sm", seq, **sm["fields"], **sm["smpplib_tlvs"])
    got = decode(data)
    assert got == DeliverSm(sequence=seq, **sm["fields"], tlvs=sm["tlvs"])
    # and the encoder is the exact inverse
    assert encode(got) == data


@settings(max_examples=200, deadline=None)
@given(
    st.text(ascii_, min_size=1, max_size=64),
    st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]),
    st.binary(min_size=3, max_size=3),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=160),
)
def test_receipt_deliver_sm_with_tlvs_matches_smpplib(
    rid: str, state: int, net_err: bytes, text: str
) -> None:
    data = _smpplib_generate(
        "deliver_sm",
        7,
        source_addr="4917012345678",
        destination_addr="Shop",
        esm_class=0x04,
        short_message=text.encode(),
        receipted_message_id=rid,
        message_state=state,
        network_error_code=net_err,
    )
    ours = decode(data)
    oracle = _smpplib_parse(data)
    assert isinstance(ours, DeliverSm)
    assert ours.esm_class == oracle.esm_class == 0x04
    assert ours.short_message == oracle.short_message == text.encode()
    assert ours.tlv(Tag.RECEIPTED_MESSAGE_ID) == oracle.receipted_message_id + b"\0"
    assert ours.tlv(Tag.MESSAGE_STATE) == bytes([oracle.message_state])
    assert ours.tlv(Tag.NETWORK_ERROR_CODE) == oracle.network_error_code == net_err


@given(st.text(ascii_, max_size=64), st.integers(1, 0x7FFFFFFF))
def test_submit_sm_resp_decode_matches_smpplib(message_id: str, seq: int) -> None:
    data = _smpplib_generate("submit_sm_resp", seq, message_id=message_id)
    assert decode(data) == SubmitSmResp(sequence=seq, message_id=message_id)
    assert encode(SubmitSmResp(message_id=message_id), seq) == data


def test_deliver_sm_resp_and_header_only_pdus_match_smpplib() -> None:
    assert encode(DeliverSmResp(), 9) == _smpplib_generate("deliver_sm_resp", 9)
    assert encode(EnquireLink(), 3) == _smpplib_generate("enquire_link", 3)
    assert encode(GenericNack(status=3), 4) == _smpplib_generate("generic_nack", 4, status=3)


@pytest.mark.parametrize("mode", ["tx", "rx", "trx"])
def test_bind_round_trips_through_smpplib(mode: Any) -> None:
    bind = BindRequest(
        mode=mode, system_id="shop", password="secret", system_type="WWW", address_range="49"
    )
    data = encode(bind, 1)
    assert decode(data) == BindRequest(
        sequence=1,
        mode=mode,
        system_id="shop",
        password="secret",
        system_type="WWW",
        address_range="49",
    )
    resp = BindResponse(mode=mode, system_id="SMSC", sc_interface_version=0x34)
    assert decode(encode(resp, 1)) == BindResponse(
        sequence=1, mode=mode, system_id="SMSC", sc_interface_version=0x34
    )


def test_error_responses_carry_no_body_and_decode_to_an_empty_id() -> None:
    data = encode(SubmitSmResp(status=0x58, message_id="ignored"), 5)
    assert len(data) == 16
    assert decode(data) == SubmitSmResp(sequence=5, status=0x58, message_id="")


def test_submit_sm_resp_without_terminating_nul_still_gives_the_id() -> None:
    data = struct.pack(">IIII", 16 + 6, 0x80000004, 0, 2) + b"a1b2c3"
    assert decode(data) == SubmitSmResp(sequence=2, message_id="a1b2c3")


def test_data_sm_round_trip() -> None:
    pdu = DataSm(
        sequence=4,
        source_addr="4917012345678",
        source_addr_ton=1,
        destination_addr="12345",
        esm_class=4,
        tlvs=((Tag.RECEIPTED_MESSAGE_ID, b"abc\0"), (Tag.MESSAGE_STATE, b"\x02")),
    )
    assert decode(encode(pdu)) == pdu


def test_unknown_command_is_kept_whole() -> None:
    data = struct.pack(">IIII", 20, 0x00000003, 0, 11) + b"\x01\x02\x03\x04"
    assert decode(data) == UnknownPdu(sequence=11, cmd=3, body=b"\x01\x02\x03\x04")


def test_vendor_tlvs_survive_decoding() -> None:
    pdu = DeliverSm(sequence=1, short_message=b"x", tlvs=((0x1400, b"vendor"), (0x0427, b"\x02")))
    decoded = decode(encode(pdu))
    assert isinstance(decoded, DeliverSm)
    assert decoded.tlvs == ((0x1400, b"vendor"), (0x0427, b"\x02"))


@pytest.mark.parametrize(
    ("pdu", "why"),
    [
        (SubmitSm(source_addr="x" * 21), "source_addr"),
        (SubmitSm(destination_addr="1" * 21), "destination_addr"),
        (SubmitSm(service_type="toolong"), "service_type"),
        (SubmitSm(short_message=b"x" * 255), "254"),
        (SubmitSm(validity_period="2501011200"), "16"),
        (SubmitSm(source_addr="a\0b"), "NUL"),
        (SubmitSm(esm_class=256), "encode"),
        (SubmitSm(source_addr="€"), "encode"),
        (BindRequest(mode="trx", system_id="x" * 16), "system_id"),
        (BindRequest(mode="trx", system_id="s", password="123456789"), "password"),
    ],
)
def test_what_cannot_be_encoded_is_refused_not_truncated(pdu: Any, why: str) -> None:
    with pytest.raises(LocalProtocolError, match=why):
        encode(pdu, 1)


def _frame(cmd: int, body: bytes, seq: int = 1) -> bytes:
    return struct.pack(">IIII", 16 + len(body), cmd, 0, seq) + body


# service_type, ton, npi, source_addr, ton, npi, destination_addr, esm .. sm_default_msg_id
_HEAD = b"\x00" + b"\x01\x01" + b"491\x00" + b"\x01\x01" + b"123\x00" + b"\x00" * 3 + b"\x00\x00"
_FLAGS = b"\x00" * 4


@pytest.mark.parametrize(
    "data",
    [
        _frame(0x00000005, b""),  # deliver_sm without a body
        _frame(0x00000005, b"\x00\x01\x01" + b"4917" * 10),  # source_addr without its NUL
        _frame(0x00000005, _HEAD + _FLAGS + b"\x05hi"),  # short_message overruns the PDU
        _frame(0x00000005, _HEAD + _FLAGS + b"\x00\x04\x27"),  # truncated TLV header
        _frame(0x00000005, _HEAD + _FLAGS + b"\x00\x04\x27\x00\x09\x02"),  # TLV overruns
        _frame(0x80000004, b"x" * 70),  # message_id too long
        _frame(0x00000009, b"no-nul-anywhere"),  # bind without terminators
    ],
)
def test_malformed_bodies_raise_remote_protocol_error_naming_the_sequence(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        decode(data)
    assert err.value.sequence == 1
    assert err.value.kind == "malformed"


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=16, max_size=300))
def test_random_bodies_decode_or_raise_remote_protocol_error(body: bytes) -> None:
    cmd = int.from_bytes(body[4:8], "big")
    for command_id in (cmd, 0x00000005, 0x00000004, 0x80000004, 0x00000103, 0x80000009):
        data = struct.pack(">II", len(body), command_id) + body[8:]
        with contextlib.suppress(RemoteProtocolError):
            decode(data)


# -- framing -----------------------------------------------------------------------------------


def _stream() -> tuple[bytes, list[bytes]]:
    pdus = [
        encode(SubmitSmResp(message_id="1"), 1),
        encode(DeliverSm(short_message=b"x" * 200, source_addr="49"), 2),
        encode(EnquireLink(), 3),
    ]
    return b"".join(pdus), pdus


def test_framer_whole_stream() -> None:
    data, pdus = _stream()
    assert Framer().feed(data) == (pdus, None)


def test_framer_byte_by_byte() -> None:
    data, pdus = _stream()
    framer = Framer()
    got: list[bytes] = []
    for i in range(len(data)):
        frames, err = framer.feed(data[i : i + 1])
        assert err is None
        got += frames
    assert got == pdus
    assert framer.buffered == 0


def test_framer_keeps_trailing_partial_pdu() -> None:
    data, pdus = _stream()
    framer = Framer()
    frames, err = framer.feed(data + pdus[0][:7])
    assert (frames, err) == (pdus, None)
    assert framer.buffered == 7
    assert framer.feed(pdus[0][7:]) == ([pdus[0]], None)


@pytest.mark.parametrize("length", [MAX_PDU_SIZE + 1, 0xFFFFFFFF, 15, 0])
def test_framer_refuses_lengths_outside_16_to_64k_without_buffering(length: int) -> None:
    data, pdus = _stream()
    bad = struct.pack(">IIII", length, 4, 0, 77)
    frames, err = Framer().feed(data + bad + b"x" * 100)
    assert frames == pdus  # what came before the bad PDU is still delivered
    assert isinstance(err, PduTooLarge)
    assert err.sequence == 77
    assert err.nack_status == 0x00000002


def test_framer_accepts_exactly_64k() -> None:
    body = b"\0" * (MAX_PDU_SIZE - 16)
    data = struct.pack(">IIII", MAX_PDU_SIZE, 0x80000015, 0, 1) + body
    frames, err = Framer().feed(data)
    assert err is None and frames == [data]
