"""SMPP 3.4 ESME driver: a sans-IO codec and session under a thin trio client, and an SMSC
simulator for users and tests.

Modules: :mod:`.pdu` (frozen PDU values), :mod:`.codec` (framing, encode/decode),
:mod:`.session` (the sans-IO state machine), :mod:`.status` (command_status classes),
:mod:`.receipts` (receipt parsing, id normalisation), :mod:`.addressing` (TON/NPI),
:mod:`.render` (parts to submit_sm), :mod:`.client` (the trio :class:`SmppDriver`) and
:mod:`.sim` (``smsgw smsc-sim``). Import the trio-facing ones from their modules; this package
imports nothing heavy so the sans-IO modules stay importable without trio.
"""

__all__: list[str] = []
