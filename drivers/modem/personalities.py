"""How the emulated modems behave: one :class:`Personality` per kind of real modem.

Each personality reproduces quirks seen in public AT transcripts of real hardware (gammu's and
python-gsmmodem's test captures, issue trackers, vendor manuals), re-described here in our own
words; no transcript is copied. Times are seconds and default to what the hardware does; tests
shrink them with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PERSONALITIES", "Personality"]


@dataclass(frozen=True, slots=True)
class Personality:
    """Knobs of one emulated modem. Every field has a standards-abiding default."""

    name: str = "generic"
    manufacturer: str = "Generic"
    model: str = "GSM-1"
    revision: str = "1.0"
    imei: str = "356938035643809"
    imsi: str = "262011234567890"
    iccid: str = "89490200001234567890"
    operator: str = "Telekom.de"
    own_number: str = "+4915112345678"
    smsc: str = "+491710760000"
    rssi: int = 20
    """+CSQ <rssi> (0-31): -113 + 2·rssi dBm."""

    echo_on_reset: bool = True
    """Echo after power-on and ATZ (V.250 default); the driver must send ATE0."""
    echo_eol: bytes = b"\r\n"
    """What follows the echo: some firmware sends CR CR LF."""
    double_echo: bool = False
    """Echo each command twice and repeat its information line (gammu's dispatch test)."""
    split_echo: bool = False
    """While URCs are on, split the echo after its first character with URCs (E3372)."""
    prompt: bytes = b"\r\n> "
    """The +CMGS prompt; ``b"\\r\\n>\\r\\n"`` is SIMCom SIM7670G's bare form."""
    cpin_ok: bool = True
    """False: ``+CPIN: READY`` without the OK (old Wavecom)."""
    unknown_reply: bytes = b"ERROR"
    """Answer to unknown commands; Huawei says ``COMMAND NOT SUPPORT``."""
    noise: tuple[bytes, ...] = ()
    """URCs sent every ``noise_interval`` until ``AT^CURC=0`` (Huawei ^RSSI, ^BOOT...)."""
    noise_interval: float = 10.0
    supports_curc: bool = False
    supports_cmms: bool = True
    supports_cmgl: bool = True
    """False: ``AT+CMGL=4`` answers +CMS ERROR: 303 in PDU mode (Quectel EP06)."""
    cds_header: bytes = b"+CDS: "
    """``b"+CDS:"`` (no space) is what some modems send."""
    status_reports: str = "cds"
    """``"cds"``: reports arrive directly (+CDS); ``"cdsi"``: stored and announced."""
    report_memory: bytes = b"SM"
    storage_base: int = 1
    """Index of the first storage slot (some modems count from 0)."""
    storage_size: int = 30
    csms_service: int = 0
    """1: phase 2+, +CMT and +CDS must be acknowledged with AT+CNMA (else sent again)."""
    cnma_timeout: float = 5.0
    busy_after_reset: int = 0
    """Answer this many commands after ATZ with +CME ERROR: 515 (init in progress)."""
    pin: str = ""
    """Non-empty: the SIM starts locked and wants this PIN."""
    pin_attempts: int = 3
    registration_delay: float = 0.0
    roaming: bool = False
    """Register as roaming (+CREG stat 5) instead of home (1)."""
    send_delay: float = 0.0
    """Seconds between Ctrl-Z and +CMGS (a real network takes 1-5 s)."""
    report_delay: float = 0.0
    report_status: int = 0
    """TP-ST of the status reports it sends (0 delivered, 70 validity expired...)."""
    urcs_around_prompt: tuple[bytes, ...] = ()
    """URCs written just before the prompt and before +CMGS (ZTE)."""
    boot_lines: tuple[bytes, ...] = (b"RDY", b"+CFUN: 1", b"+CPIN: READY", b"SMS Ready")
    mr_start: int = 0


PERSONALITIES: dict[str, Personality] = {
    p.name: p
    for p in (
        Personality(name="generic"),
        # SIMCom SIM800: start-up URCs, "> " prompt, +CMMS, +CDS direct.
        Personality(
            name="sim800",
            manufacturer="SIMCOM_Ltd",
            model="SIMCOM_SIM800L",
            revision="Revision:1418B05SIM800L24",
            imei="867567040000011",
            boot_lines=(b"RDY", b"+CFUN: 1", b"+CPIN: READY", b"Call Ready", b"SMS Ready"),
        ),
        # Huawei E3372: URC noise that even splits the echo until AT^CURC=0, CR CR LF after
        # the echo, COMMAND NOT SUPPORT, no SR memory (reports stored in ME), no +CMMS.
        Personality(
            name="huawei_e3372",
            manufacturer="huawei",
            model="E3372",
            revision="22.328.62.00.209",
            imei="866123040000022",
            echo_eol=b"\r\r\n",
            split_echo=True,
            unknown_reply=b"COMMAND NOT SUPPORT",
            noise=(b"^RSSI:20", b'^HCSQ:"LTE",49,39,121,20', b"^BOOT:35323129,0,0,0,26"),
            supports_curc=True,
            supports_cmms=False,
            status_reports="cdsi",
            report_memory=b"ME",
            boot_lines=(b"^SYSSTART",),
        ),
        # SIMCom SIM7670G: bare ">" prompt on its own line.
        Personality(
            name="sim7670g",
            manufacturer="SIMCOM INCORPORATED",
            model="SIM7670G-MNGV",
            imei="862012040000033",
            prompt=b"\r\n>\r\n",
            boot_lines=(b"RDY", b"+CPIN: READY", b"SMS DONE", b"PB DONE"),
        ),
        # Old Wavecom: +CPIN: READY without OK, doubled echo, busy (515) right after reset.
        Personality(
            name="wavecom",
            manufacturer="WAVECOM MODEM",
            model="MULTIBAND  900E  1800",
            imei="353456010000044",
            cpin_ok=False,
            double_echo=True,
            busy_after_reset=2,
            supports_cmms=False,
        ),
        # Quectel EC25 in phase 2+: +CMT/+CDS need AT+CNMA; reports without a space.
        Personality(
            name="quectel_ec25",
            manufacturer="Quectel",
            model="EC25",
            imei="869710030000055",
            csms_service=1,
            cds_header=b"+CDS:",
            prompt=b"> ",
        ),
        # Quectel EP06: AT+CMGL=4 fails in PDU mode; storage counted from 0.
        Personality(
            name="quectel_ep06",
            manufacturer="Quectel",
            model="EP06",
            imei="869710030000066",
            supports_cmgl=False,
            storage_base=0,
        ),
        # ZTE: URCs around the prompt and before +CMGS; stored status reports.
        Personality(
            name="zte",
            manufacturer="ZTE INCORPORATED",
            model="MF626",
            imei="354123010000077",
            urcs_around_prompt=(b'+ZDONR: "METEOR",272,3,"CS_ONLY","ROAM_OFF"', b'+ZPASR: "UMTS"'),
            status_reports="cdsi",
        ),
    )
}
"""The built-in personalities by name."""
