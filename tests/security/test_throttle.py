"""The login throttle: failures per account and per address in a sliding window, kept in the
metadata database (SQLite, and PostgreSQL when reachable), so every node sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveinsight.meta.logins import LoginStore
from liveinsight.meta.repo import Metadata
from liveinsight.security.throttle import Limits, LoginThrottle
from tests.meta.test_repo import meta  # noqa: F401  (the SQLite / PostgreSQL fixture)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LIMITS = Limits(account_attempts=3, address_attempts=5, window=timedelta(minutes=10))


def _throttle(meta: Metadata, secret: bytes = b"s") -> LoginThrottle:  # noqa: F811
    return LoginThrottle(LoginStore(meta.engine), secret, LIMITS)


def test_an_account_is_locked_from_every_address(meta: Metadata) -> None:  # noqa: F811
    throttle = _throttle(meta)
    locked = [throttle.failed("a@example.com", f"198.51.100.{i}", T0 + timedelta(seconds=i))
              for i in range(3)]
    assert locked == [False, False, True]  # the third failure locks (and tells the owner)
    verdict = throttle.check("A@example.com ", "203.0.113.9", T0 + timedelta(seconds=5))
    assert verdict.locked == "account" and 0 < verdict.retry_after <= 600
    assert throttle.check("b@example.com", "203.0.113.9", T0).retry_after == 0
    # the oldest failure ages out of the window: the account may try again
    assert throttle.check("a@example.com", "203.0.113.9", T0 + timedelta(minutes=10, seconds=1)
                          ).retry_after == 0


def test_an_address_is_locked_for_every_account(meta: Metadata) -> None:  # noqa: F811
    throttle = _throttle(meta)
    for i in range(5):
        throttle.failed(f"user{i}@example.com", "198.51.100.7", T0)
    assert throttle.check("new@example.com", "198.51.100.7", T0).locked == "address"
    assert throttle.check("new@example.com", "198.51.100.8", T0).retry_after == 0


def test_another_accounts_success_resets_nothing(meta: Metadata) -> None:  # noqa: F811
    """36 failures from one address interleaved with another account's successes were never
    throttled: a success cleared the address."""
    throttle = _throttle(meta)
    for i in range(5):
        throttle.failed("victim@example.com" if i < 2 else f"x{i}@example.com", "198.51.100.7",
                        T0)
        throttle.succeeded("attacker@example.com")
    assert throttle.check("victim@example.com", "198.51.100.7", T0).locked == "address"
    throttle.succeeded("victim@example.com")  # the account's own success clears its count
    assert throttle.check("victim@example.com", "198.51.100.9", T0).retry_after == 0


def test_two_nodes_share_the_counts(meta: Metadata) -> None:  # noqa: F811
    node_a, node_b = _throttle(meta), _throttle(meta)
    node_a.failed("a@example.com", "198.51.100.1", T0)
    node_b.failed("a@example.com", "198.51.100.2", T0)
    node_a.failed("a@example.com", "198.51.100.3", T0)
    assert node_b.check("a@example.com", "198.51.100.4", T0).locked == "account"


def test_no_email_or_address_is_stored(meta: Metadata) -> None:  # noqa: F811
    throttle = _throttle(meta)
    throttle.failed("private@example.com", "198.51.100.77", T0)
    with meta.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.exec_driver_sql(
            "SELECT scope, key FROM login_failures")]
    assert len(rows) == 2
    assert not any("private" in k or "198.51" in k for _, k in rows)
