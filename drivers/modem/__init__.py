"""The GSM modem bank driver: USB modems spoken to with AT commands over a serial port.

Sans-IO cores (no trio, no file descriptors): :mod:`~smsgw.drivers.modem.at` (the AT
conversation), :mod:`~smsgw.drivers.modem.sms_pdu` (the SMS PDU codec),
:mod:`~smsgw.drivers.modem.error_codes` (what +CME/+CMS codes mean),
:mod:`~smsgw.drivers.modem.responses` (information-line parsers) and
:mod:`~smsgw.drivers.modem.bringup` (the bring-up sequence as data).

trio layer: :mod:`~smsgw.drivers.modem.driver` (one modem), :mod:`~smsgw.drivers.modem.bank`
(the route's :class:`~smsgw.drivers.seam.Driver`), :mod:`~smsgw.drivers.modem.emulator` (a modem
on a pty for tests and ``smsgw bench``), :mod:`~smsgw.drivers.modem.probe` (``smsgw modems``).

This package's ``__init__`` imports nothing itself, so importing a sans-IO module never pulls
in trio; import what you need from its module, e.g.
``from smsgw.drivers.modem.bank import ModemBank``.
"""

__all__: list[str] = []
