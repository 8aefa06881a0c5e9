"""SMPP 3.4 PDUs as frozen values, and the numbers the spec gives them.

Every PDU is a frozen :class:`msgspec.Struct` carrying its header's ``sequence`` and ``status``
(SMPP 3.4 §3.2, §5.1) and its body's fields. Strings (C-Octet Strings, §3.1) are ``str``
(decoded as Latin-1, so any byte survives a round trip); octet strings are ``bytes``. Optional
parameters (TLVs, §3.2.4, §5.3) are kept in wire order as ``(tag, value)`` pairs, including
vendor tags we do not know, so nothing a peer sends is dropped on the floor.

Turning values into bytes and back is :mod:`smsgw.drivers.smpp.codec`'s job.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

__all__ = [
    "BIND_COMMANDS",
    "BindMode",
    "BindRequest",
    "BindResponse",
    "CancelSm",
    "Cmd",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Pdu",
    "QuerySm",
    "ShortMessagePdu",
    "Status",
    "SubmitSm",
    "SubmitSmResp",
    "Tag",
    "Unbind",
    "UnbindResp",
    "UnknownPdu",
    "is_response",
]

BindMode = Literal["tx", "rx", "trx"]


class Cmd:
    """command_id values, SMPP 3.4 §5.1.2.1 (table 5-1). A response is the request | 0x80000000."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


BIND_COMMANDS: dict[BindMode, int] = {
    "tx": Cmd.BIND_TRANSMITTER,
    "rx": Cmd.BIND_RECEIVER,
    "trx": Cmd.BIND_TRANSCEIVER,
}


class Status:
    """The command_status values we act on by name, SMPP 3.4 §5.1.3 (the full table lives in
    :mod:`smsgw.drivers.smpp.status`)."""

    ROK = 0x00000000
    RINVMSGLEN = 0x00000001
    RINVCMDLEN = 0x00000002
    RINVCMDID = 0x00000003
    RINVBNDSTS = 0x00000004
    RALYBND = 0x00000005
    RSYSERR = 0x00000008
    RINVSRCADR = 0x0000000A
    RINVDSTADR = 0x0000000B
    RINVMSGID = 0x0000000C
    RBINDFAIL = 0x0000000D
    RINVPASWD = 0x0000000E
    RINVSYSID = 0x0000000F
    RCANCELFAIL = 0x00000011
    RMSGQFUL = 0x00000014
    RINVESMCLASS = 0x00000043
    RSUBMITFAIL = 0x00000045
    RTHROTTLED = 0x00000058
    RX_T_APPN = 0x00000064
    RX_P_APPN = 0x00000065
    RX_R_APPN = 0x00000066
    RQUERYFAIL = 0x00000067
    RINVOPTPARSTREAM = 0x000000C0
    RINVPARLEN = 0x000000C2


class Tag:
    """TLV tags we read or write, SMPP 3.4 §5.3.2."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


def is_response(command_id: int) -> bool:
    """True for response command ids (bit 31 set, §5.1.2.1)."""
    return command_id & 0x80000000 != 0


Tlvs = tuple[tuple[int, bytes], ...]


class _Pdu(msgspec.Struct, frozen=True, kw_only=True):
    """Header fields every PDU has (§3.2): command_length and command_id are implied."""

    command_id: ClassVar[int] = 0
    sequence: int = 0
    status: int = 0


class GenericNack(_Pdu, frozen=True, kw_only=True):
    """generic_nack (§4.3): "your PDU was so bad I cannot answer it properly"."""

    command_id: ClassVar[int] = Cmd.GENERIC_NACK


class BindRequest(_Pdu, frozen=True, kw_only=True):
    """bind_transmitter / bind_receiver / bind_transceiver (§4.1.1, §4.1.3, §4.1.5)."""

    mode: BindMode
    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    @property
    def cmd(self) -> int:
        """The command_id for this bind mode."""
        return BIND_COMMANDS[self.mode]


class BindResponse(_Pdu, frozen=True, kw_only=True):
    """bind_*_resp (§4.1.2): the SMSC's system_id and, as a TLV, its interface version."""

    mode: BindMode
    system_id: str = ""
    sc_interface_version: int | None = None

    @property
    def cmd(self) -> int:
        """The command_id for this bind mode's response."""
        return BIND_COMMANDS[self.mode] | 0x80000000


class Unbind(_Pdu, frozen=True, kw_only=True):
    """unbind (§4.2.1)."""

    command_id: ClassVar[int] = Cmd.UNBIND


class UnbindResp(_Pdu, frozen=True, kw_only=True):
    """unbind_resp (§4.2.2)."""

    command_id: ClassVar[int] = Cmd.UNBIND_RESP


class EnquireLink(_Pdu, frozen=True, kw_only=True):
    """enquire_link (§4.11.1)."""

    command_id: ClassVar[int] = Cmd.ENQUIRE_LINK


class EnquireLinkResp(_Pdu, frozen=True, kw_only=True):
    """enquire_link_resp (§4.11.2)."""

    command_id: ClassVar[int] = Cmd.ENQUIRE_LINK_RESP


class _WithTlvs(_Pdu, frozen=True, kw_only=True):
    """A PDU that carries optional parameters (§3.2.4 / §5.3)."""

    tlvs: Tlvs = ()

    def tlv(self, tag: int) -> bytes | None:
        """The first value of TLV ``tag``, or None when the PDU does not carry it."""
        for t, v in self.tlvs:
            if t == tag:
                return v
        return None


class ShortMessagePdu(_WithTlvs, frozen=True, kw_only=True):
    """The body submit_sm (§4.4.1) and deliver_sm (§4.6.1) share, field for field."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


class SubmitSm(ShortMessagePdu, frozen=True, kw_only=True):
    """submit_sm (§4.4.1): one short message from us to the SMSC."""

    command_id: ClassVar[int] = Cmd.SUBMIT_SM


class DeliverSm(ShortMessagePdu, frozen=True, kw_only=True):
    """deliver_sm (§4.6.1): a receipt or an inbound message from the SMSC."""

    command_id: ClassVar[int] = Cmd.DELIVER_SM


class SubmitSmResp(_Pdu, frozen=True, kw_only=True):
    """submit_sm_resp (§4.4.2): the SMSC's message id (empty when status is an error)."""

    command_id: ClassVar[int] = Cmd.SUBMIT_SM_RESP
    message_id: str = ""


class DeliverSmResp(_Pdu, frozen=True, kw_only=True):
    """deliver_sm_resp (§4.6.2); message_id is unused and always empty."""

    command_id: ClassVar[int] = Cmd.DELIVER_SM_RESP
    message_id: str = ""


class DataSm(_WithTlvs, frozen=True, kw_only=True):
    """data_sm (§4.7.1): like deliver_sm without short_message; text rides in TLVs."""

    command_id: ClassVar[int] = Cmd.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


class DataSmResp(_Pdu, frozen=True, kw_only=True):
    """data_sm_resp (§4.7.2)."""

    command_id: ClassVar[int] = Cmd.DATA_SM_RESP
    message_id: str = ""


class QuerySm(_Pdu, frozen=True, kw_only=True):
    """query_sm (§4.8.1): the ESME asks for the state of a message it submitted.

    The codec reads it from an :class:`UnknownPdu` (only an SMSC-role session asks it to).
    """

    command_id: ClassVar[int] = Cmd.QUERY_SM
    message_id: str
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


class CancelSm(_Pdu, frozen=True, kw_only=True):
    """cancel_sm (§4.9.1): the ESME asks to cancel a message it submitted and that has not
    left yet (read like :class:`QuerySm`)."""

    command_id: ClassVar[int] = Cmd.CANCEL_SM
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


class UnknownPdu(_Pdu, frozen=True, kw_only=True):
    """A well-framed PDU whose command we do not implement (query_sm, outbind, vendor ...)."""

    cmd: int
    body: bytes = b""


Pdu = (
    GenericNack
    | BindRequest
    | BindResponse
    | Unbind
    | UnbindResp
    | EnquireLink
    | EnquireLinkResp
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | DataSm
    | DataSmResp
    | UnknownPdu
)
"""Every PDU value the codec produces or accepts."""
