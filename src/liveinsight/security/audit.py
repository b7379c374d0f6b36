"""The audit log's values and its hash chain: values in, values out.

An :class:`AuditEntry` says who (``actor``), did what (``action``: a route template such as
``POST /sites/{site_id}/goals``, or an event such as ``login.failed``), to what
(``target``), on which site, with which outcome, from where (``client``: a keyed hash of
the address, never the address) and in which request (``request_id``).

Records are numbered from 1 without gaps (``seq``), and each carries
``hash = HMAC-SHA256(key, prev_hash + canonical JSON of the record)`` where ``prev_hash``
is the previous record's hash (``GENESIS`` for the first) and ``key`` derives from the
server secret. Editing a record breaks its hash; deleting one leaves a gap in ``seq`` and
breaks the next record's ``prev_hash``; recomputing the chain needs the secret.
:func:`verify` walks records in order and names each break. Deleting the oldest records
through retention is recorded in the chain itself (an ``audit.pruned`` record naming how far)
so that a verification can tell it from tampering.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

GENESIS = "0" * 64
OUTCOMES = ("ok", "denied", "refused", "failed", "error")
SECURITY_ACTIONS = ("login.failed", "login.locked", "login.code_failed",
                    "apikey.new_network")
"""Events flagged as security events (with every answer 403, a permission denial): what the
audit page highlights, ``flagged=true`` selects and ``security`` alert rules count."""
DENIED = 403


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # "user:3 ann@example.com", "key:5 reporting", "anonymous"
    action: str
    target: str = ""
    outcome: str = "ok"  # one of OUTCOMES
    status: int | None = None  # the HTTP status of the request, when it was one
    site_id: int | None = None
    client: str = ""  # client_key(...) of the address
    request_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """A security event (failed sign-in, lockout, a key's use from a new network, a
        permission denial). Derived from what the entry says, so it is as tamper-evident
        as the entry."""
        return self.action in SECURITY_ACTIONS or self.status == DENIED

    def canonical(self) -> bytes:
        data = asdict(self)
        data["at"] = self.at.isoformat(timespec="microseconds")
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry as stored: its place in the chain and its hashes."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def chain_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"liveinsight/audit-chain", hashlib.sha256).digest()


def link(key: bytes, prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """The hash of ``entry`` stored as record ``seq`` after a record hashed ``prev_hash``."""
    message = f"{prev_hash}\n{seq}\n".encode() + entry.canonical()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def client_key(secret: bytes, address: str) -> str:
    """What the log keeps of a client address: 16 hex digits of an HMAC under the secret
    (the same address gives the same value, so requests can be grouped; the address cannot
    be read back)."""
    digest = hmac.new(secret, f"audit-client:{address}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def outcome_of(status: int) -> str:
    if status in (401, 403, 404):
        return "denied"
    if status == 429:
        return "refused"
    if status >= 500:
        return "error"
    return "failed" if status >= 400 else "ok"


@dataclass(frozen=True, slots=True)
class Verdict:
    records: int
    head: str  # the last record's hash (keep it elsewhere to detect a truncated tail)
    problems: tuple[str, ...]
    pruned_through: int = 0
    last: int = 0  # the last record's seq (pruned_through when none is left)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(key: bytes, records: Iterable[AuditRecord], pruned_through: int = 0,
           pruned_hash: str = GENESIS) -> Verdict:
    """Walk ``records`` (in ``seq`` order) and name every break: a record whose hash does
    not match its content (edited), a gap in ``seq`` or a ``prev_hash`` that is not the
    previous record's hash (deleted or reordered). ``pruned_through``/``pruned_hash``: where
    retention cut the chain (the first record kept follows them)."""
    problems: list[str] = []
    expected_seq, prev = pruned_through + 1, pruned_hash
    count, last = 0, pruned_through
    for record in records:
        count += 1
        if record.seq != expected_seq:
            problems.append(f"records {expected_seq}..{record.seq - 1} are missing"
                            if record.seq > expected_seq else
                            f"record {record.seq} is out of order")
        elif record.prev_hash != prev:
            problems.append(f"record {record.seq} does not follow record {record.seq - 1}")
        if link(key, record.prev_hash, record.seq, record.entry) != record.hash:
            problems.append(f"record {record.seq} was changed after it was written")
        expected_seq, prev, last = record.seq + 1, record.hash, record.seq
    return Verdict(count, prev, tuple(problems), pruned_through, last)
