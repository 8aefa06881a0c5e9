"""Source and destination addresses with their TON/NPI (SMPP 3.4 §5.2.5, §5.2.6).

Carriers reject a submit_sm whose TON/NPI does not match the address's shape (ESME_RINVSRCTON
and friends), so we set them from the address itself:

=========================  =====  =====  ============================
address                    TON    NPI    on the wire
=========================  =====  =====  ============================
``+4917012345678``         1 int  1 E164 ``4917012345678``
``004917012345678``        1 int  1 E164 ``4917012345678``
``017012345678`` (> 8)     2 nat  1 E164 as given
``12345`` (<= 8 digits)    3 net  0 unk  as given (a short code)
``MyShop`` (has a letter)  5 aln  0 unk  as given (<= 11 characters)
=========================  =====  =====  ============================

A route's ``source_ton``/``source_npi``/``dest_ton``/``dest_npi`` override the detected values
(some carriers want TON 0 NPI 1 for everything).
"""

from __future__ import annotations

from typing import NamedTuple

from smsgw.drivers.text.digits import is_decimal

__all__ = ["Address", "AddressError", "Addressing", "classify_address", "to_display"]

TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL, TON_NETWORK, TON_ALPHANUMERIC = 0, 1, 2, 3, 5
NPI_UNKNOWN, NPI_E164 = 0, 1
SHORT_CODE_MAX = 8
"""Longest all-digit address treated as a short code."""


class AddressError(ValueError):
    """An address that cannot go into source_addr/destination_addr (bad shape or too long)."""


class Address(NamedTuple):
    """An address as it goes on the wire."""

    ton: int
    npi: int
    addr: str


def classify_address(value: str) -> Address:
    """Detect TON/NPI for ``value`` and strip what the wire must not carry (``+``, ``00``).

    Raises :class:`AddressError` for an empty address, one with characters that are neither
    digits nor a plain alphanumeric sender id, or one longer than source_addr allows (20).
    """
    v = value.strip()
    if not v:
        raise AddressError("empty address")
    if v[0] == "+":
        digits = v[1:]
        if not is_decimal(digits, 255):
            raise AddressError(f"{value!r}: '+' must be followed by digits only")
        addr = Address(TON_INTERNATIONAL, NPI_E164, digits)
    elif is_decimal(v, 255):
        if v.startswith("00") and len(v) > SHORT_CODE_MAX:
            addr = Address(TON_INTERNATIONAL, NPI_E164, v[2:])
        elif len(v) <= SHORT_CODE_MAX:
            addr = Address(TON_NETWORK, NPI_UNKNOWN, v)
        else:
            addr = Address(TON_NATIONAL, NPI_E164, v)
    else:
        # Alphanumeric sender id: GSM 03.38 characters, 11 at most (3GPP TS 23.040 §9.1.2.5).
        if len(v) > 11 or not v.isprintable() or any(ord(c) > 0xFF for c in v):
            raise AddressError(f"{value!r}: an alphanumeric sender has at most 11 characters")
        addr = Address(TON_ALPHANUMERIC, NPI_UNKNOWN, v)
    if len(addr.addr) > 20:
        raise AddressError(f"{value!r}: longer than the 20 digits SMPP allows")
    return addr


def to_display(ton: int, addr: str) -> str:
    """An address from the SMSC in our form: E.164 with ``+`` when TON says international."""
    if ton == TON_INTERNATIONAL and is_decimal(addr, 21):
        return "+" + addr
    return addr


class Addressing:
    """One route's addressing rules: detection plus its configured overrides."""

    __slots__ = ("_dest_npi", "_dest_ton", "_source_npi", "_source_ton")

    def __init__(
        self,
        *,
        source_ton: int | None = None,
        source_npi: int | None = None,
        dest_ton: int | None = None,
        dest_npi: int | None = None,
    ) -> None:
        for name, v in (
            ("source_ton", source_ton),
            ("source_npi", source_npi),
            ("dest_ton", dest_ton),
            ("dest_npi", dest_npi),
        ):
            if v is not None and not 0 <= v <= 0xFF:
                raise ValueError(f"{name} = {v} is not an octet")
        self._source_ton = source_ton
        self._source_npi = source_npi
        self._dest_ton = dest_ton
        self._dest_npi = dest_npi

    def source(self, value: str) -> Address:
        """source_addr_ton, source_addr_npi, source_addr for a sender id."""
        a = classify_address(value)
        if self._source_ton is None and self._source_npi is None:
            return a
        return Address(
            a.ton if self._source_ton is None else self._source_ton,
            a.npi if self._source_npi is None else self._source_npi,
            a.addr,
        )

    def dest(self, value: str) -> Address:
        """dest_addr_ton, dest_addr_npi, destination_addr for a recipient."""
        a = classify_address(value)
        if a.ton == TON_ALPHANUMERIC:
            raise AddressError(f"{value!r}: a destination must be a number")
        if self._dest_ton is None and self._dest_npi is None:
            return a
        return Address(
            a.ton if self._dest_ton is None else self._dest_ton,
            a.npi if self._dest_npi is None else self._dest_npi,
            a.addr,
        )
