"""SMPP server accounts, pure: the bind decision, the part bucket, the failed-bind slow-down."""

from __future__ import annotations

from smsgw.config.schema import KeyConfig
from smsgw.config.smpp_server import SmppAccountConfig
from smsgw.drivers.smpp.pdu import Status
from smsgw.gateway.smpp_server.accounts import Accounts, BindFailures, PartBucket

KEY = KeyConfig(name="shop", token="t" * 32)


def accounts(**kw: object) -> Accounts:
    acct = SmppAccountConfig(system_id="crm", password="secret", key="shop", **kw)  # type: ignore[arg-type]
    return Accounts([acct], [KEY], 0.0)


def test_right_password_binds_and_wrong_or_unknown_look_the_same() -> None:
    a = accounts()
    status, acct = a.decide("crm", "secret", "127.0.0.1")
    assert status == Status.ROK and acct is not None and acct.key is KEY
    assert a.decide("crm", "wrong", "127.0.0.1") == (Status.RINVPASWD, None)
    assert a.decide("nobody", "secret", "127.0.0.1") == (Status.RINVPASWD, None)


def test_allow_list_and_max_binds_fail_the_bind_only_after_the_password() -> None:
    a = accounts(allow=["10.0.0.0/8", "192.0.2.7"], max_binds=1)
    assert a.decide("crm", "secret", "10.1.2.3")[0] == Status.ROK
    assert a.decide("crm", "secret", "::ffff:192.0.2.7")[0] == Status.ROK
    assert a.decide("crm", "secret", "192.0.2.8") == (Status.RBINDFAIL, None)
    assert a.decide("crm", "wrong", "192.0.2.8") == (Status.RINVPASWD, None)
    acct = a.get("crm")
    assert acct is not None
    acct.binds = 1
    assert a.decide("crm", "secret", "10.1.2.3") == (Status.RBINDFAIL, None)


def test_the_bucket_grants_rate_plus_burst_parts_in_a_second() -> None:
    b = PartBucket(rate=10, burst=5, now=0.0)
    granted = sum(b.take(1, t / 100) for t in range(100))  # 100 one-part tries in [0, 1)
    assert granted == 5 + 9  # the burst, then one per 0.1 s (the 10th lands at t=1.0)
    assert not b.take(1, 0.995)


def test_a_message_larger_than_the_bucket_passes_when_full_and_leaves_a_debt() -> None:
    b = PartBucket(rate=1, burst=2, now=0.0)
    assert b.take(5, 0.0)
    assert b.tokens(0.0) == -3
    assert not b.take(1, 3.5)
    assert b.take(1, 4.0)


def test_given_back_tokens_return() -> None:
    b = PartBucket(rate=1, burst=2, now=0.0)
    assert b.take(2, 0.0) and not b.take(1, 0.0)
    b.give_back(2, 0.0)
    assert b.take(2, 0.0)


def test_repeated_failures_from_one_address_slow_down_and_success_clears() -> None:
    f = BindFailures(free=2, base=1.0, cap=8.0, forget=600.0)
    delays = [f.failed("192.0.2.1", float(t)) for t in range(7)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert f.failed("192.0.2.2", 7.0) == 0.0  # per address
    f.succeeded("192.0.2.1")
    assert f.failed("192.0.2.1", 8.0) == 0.0
    for t in range(3):
        f.failed("192.0.2.3", float(t))
    assert f.failed("192.0.2.3", 1000.0) == 0.0  # forgotten after quiet
