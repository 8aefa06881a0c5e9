"""SMPP 3.4 ESME driver: a sans-IO codec and session under a thin trio client, and an SMSC
simulator for users and tests.

Sans-IO (no trio): :mod:`.pdu` (frozen PDU values), :mod:`.codec` (framing with a 64 KiB cap,
encode/decode), :mod:`.session` (the state machine: sequence numbers, window, deadlines),
:mod:`.events`, :mod:`.errors`, :mod:`.status` (command_status classes), :mod:`.addressing`
(TON/NPI). Shared with the seam: :mod:`.receipts` (receipt parsing, id normalisation),
:mod:`.render` (parts to submit_sm), :mod:`.inbound` (MO reassembly and when to ack).
trio-facing: :mod:`.client` (:class:`~smsgw.drivers.smpp.client.SmppDriver`) and :mod:`.sim`
(``smsgw smsc-sim``; :mod:`.simcli`, :mod:`.mo_pdus`). Import them from their modules; this
package module imports nothing, so the sans-IO modules stay importable without trio.
"""

__all__: list[str] = []
