"""Live sessions in Redis, shared by every node and process (``ingest/session_store.py``).

A visitor's session is found and extended by whichever node gets the event: one Lua script
per batch of events (``record_many``) looks each event's session up and writes its new state,
atomically per event, so two events of one session never take the same version, whichever
nodes they reach. Keys, under ``prefix`` (``redis_prefix``, default ``li:``):

- ``<prefix>s:<site>:<session id>``: a hash, the session's state (the columns that change,
  times in µs since the epoch, and ``c``: the session's first row, whose visit columns never
  change, as the JSON the log holds);
- ``<prefix>v:<site>:<visitor id>``: the visitor's live session id (a session continued
  across midnight is reachable under yesterday's and today's visitor ids);
- ``<prefix>live``: a sorted set of ``<site>:<session id>`` by the node clock's time of the
  last touch, trimmed to the timeout on every batch, for the live-session count.

Each touch sets its keys to expire ``timeout`` later (Redis's own TTL, Redis's clock), so an
idle session is forgotten by Redis itself. Whether an event continues a session is decided on
event times, as in process. Every key of a batch is touched by one script, so this needs one
Redis (with replicas or Sentinel for availability), not Redis Cluster.

When Redis cannot be reached (connection refused, time-out), the batch is recorded in this
node's own memory (:class:`~liveinsight.ingest.sessions.SessionTracker`) and the store is
*degraded* (``degraded`` says why; health reports it): events are never failed for it, but a
visit whose events reach several nodes meanwhile is split into a session per node, and a
visit already under way in Redis continues as a new session. Redis is tried again every
``retry_s`` (by the next batch, or by a thread of the store when no event comes); once it
answers, this node's sessions are handed to it (a session replaces what Redis holds only when
its version is higher, a visitor's alias moves only to a session with a later event) and the
node goes on sharing. One case is not recovered: a reply lost after the script ran (a
time-out on a slow Redis) leaves Redis one version ahead of the rows written; that session's
next change then cancels a version never written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import redis
from redis.exceptions import RedisError

from liveinsight.ingest.session_store import SessionEvent
from liveinsight.ingest.sessions import ENGAGEMENT, PAGEVIEW, Session, SessionTracker, new_session
from liveinsight.types import EventRow, SessionRow

log = logging.getLogger("liveinsight.ingest.redis_sessions")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
CHUNK = 500  # events per script call: a long script blocks every other Redis client
_PER_EVENT = 10

# ARGV: prefix, timeout µs, ttl ms, now (score), cutoff (score), then _PER_EVENT per event:
# site, visitor id, yesterday's visitor id ('' none), event time µs, event time text, kind
# ('p' pageview, 'e' engagement, 'c' custom), path, interactive ('1'/'0'), a new session id,
# the new session's row (JSON). Returns the live count, then per event: 0 (an engagement
# without a session), 1 (a new session: the row given) or the changed session's
# {id, visitor id, then the previous and the new state: version, start text, last text,
# entry, exit, pageviews, events, duration, bounce; then its first row}.
_RECORD = """
local P = ARGV[1]
local timeout = tonumber(ARGV[2])
local ttl = ARGV[3]
local now = ARGV[4]
local live = P .. 'live'
local out = {}

local function find(site, vid, when)
  local sid = redis.call('GET', P .. 'v:' .. site .. ':' .. vid)
  if not sid then return nil end
  local last = redis.call('HGET', P .. 's:' .. site .. ':' .. sid, 'l')
  if not last or when - tonumber(last) > timeout then return nil end
  return sid
end

for i = 6, #ARGV, 10 do
  local site, vid, prev, when_s = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ts, kind, path, inter = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local when = tonumber(when_s)
  local sid = find(site, vid, when)
  if not sid and prev ~= '' then sid = find(site, prev, when) end
  if not sid then
    if kind == 'e' then
      out[#out + 1] = 0
    else
      sid = ARGV[i + 8]
      local key = P .. 's:' .. site .. ':' .. sid
      local pv, interacted = 0, 0
      if kind == 'p' then pv = 1 elseif inter == '1' then interacted = 1 end
      redis.call('HSET', key, 'vid', vid, 'v', 1, 's', when_s, 'l', when_s, 'st', ts,
                 'lt', ts, 'en', path, 'ex', path, 'pv', pv, 'ev', 1, 'd', 0,
                 'b', 1 - interacted, 'i', interacted, 'c', ARGV[i + 9])
      redis.call('PEXPIRE', key, ttl)
      redis.call('SET', P .. 'v:' .. site .. ':' .. vid, sid, 'PX', ttl)
      redis.call('ZADD', live, now, site .. ':' .. sid)
      out[#out + 1] = 1
    end
  else
    local key = P .. 's:' .. site .. ':' .. sid
    local f = redis.call('HMGET', key, 'vid', 'v', 's', 'l', 'st', 'lt', 'en', 'ex', 'pv',
                         'ev', 'd', 'b', 'i', 'c')
    local v, s, l = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
    local s_text, l_text, st, lt, en, ex = f[3], f[4], f[5], f[6], f[7], f[8]
    local pv, ev, interacted = tonumber(f[9]), tonumber(f[10]), tonumber(f[13])
    if when < s then s, s_text, st = when, when_s, ts end
    local latest = when >= l
    if latest then l, l_text, lt = when, when_s, ts end
    if kind ~= 'e' then
      ev = ev + 1
      if kind == 'p' then
        if pv == 0 then en = path end
        if latest or pv == 0 then ex = path end
        pv = pv + 1
      elseif inter == '1' then
        interacted = 1
      end
    end
    local d = math.floor((l - s) / 1000000)
    local b = 0
    if pv <= 1 and interacted == 0 then b = 1 end
    redis.call('HSET', key, 'v', v + 1, 's', s_text, 'l', l_text, 'st', st, 'lt', lt,
               'en', en, 'ex', ex, 'pv', pv, 'ev', ev, 'd', d, 'b', b, 'i', interacted)
    redis.call('PEXPIRE', key, ttl)
    redis.call('SET', P .. 'v:' .. site .. ':' .. vid, sid, 'PX', ttl)
    redis.call('ZADD', live, now, site .. ':' .. sid)
    out[#out + 1] = {sid, f[1], f[2], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12],
                     v + 1, st, lt, en, ex, pv, ev, d, b, f[14]}
  end
end
redis.call('ZREMRANGEBYSCORE', live, '-inf', '(' .. ARGV[5])
redis.call('PEXPIRE', live, ttl)
table.insert(out, 1, redis.call('ZCARD', live))
return out
"""

# ARGV: prefix, now (score), then 17 per session: site, session id, visitor id, version,
# start µs, last µs, start text, last text, entry, exit, pageviews, events, duration, bounce,
# interacted, first row (JSON), ttl ms. A session replaces the one Redis holds only with a
# higher version; the visitor's alias moves to it only from a session with an earlier last
# event.
_ADOPT = """
local P = ARGV[1]
local live = P .. 'live'
for i = 3, #ARGV, 17 do
  local site, sid, vid, v, last, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
                                       ARGV[i + 5], ARGV[i + 16]
  local key = P .. 's:' .. site .. ':' .. sid
  local held = redis.call('HGET', key, 'v')
  if not held or tonumber(held) < tonumber(v) then
    redis.call('HSET', key, 'vid', vid, 'v', v, 's', ARGV[i + 4], 'l', last,
               'st', ARGV[i + 6], 'lt', ARGV[i + 7], 'en', ARGV[i + 8], 'ex', ARGV[i + 9],
               'pv', ARGV[i + 10], 'ev', ARGV[i + 11], 'd', ARGV[i + 12], 'b', ARGV[i + 13],
               'i', ARGV[i + 14], 'c', ARGV[i + 15])
    redis.call('PEXPIRE', key, ttl)
    redis.call('ZADD', live, ARGV[2], site .. ':' .. sid)
  end
  local alias = P .. 'v:' .. site .. ':' .. vid
  local other = redis.call('GET', alias)
  local point = not other
  if other and other ~= sid then
    local other_last = redis.call('HGET', P .. 's:' .. site .. ':' .. other, 'l')
    point = not other_last or tonumber(other_last) < tonumber(last)
  end
  if point then redis.call('SET', alias, sid, 'PX', ttl) end
end
return 0
"""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(SessionRow).decode


def _us(value: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp is off by one at times)."""
    return (value - _EPOCH) // _US


def _ms(value: datetime) -> str:
    return str(_us(value) // 1000)


class RedisSessionStore:
    """The session store in Redis at ``url``; this node's memory while Redis fails (see the
    module docstring). Thread-safe; every method but ``__len__`` and ``degraded`` may wait
    for Redis (up to ``socket_timeout`` seconds): call them off the event loop."""

    def __init__(self, url: str, timeout: timedelta, clock: Callable[[], datetime], *,
                 prefix: str = "li:", socket_timeout: float = 0.5, retry_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._prefix = prefix
        self._timeout_us = str(timeout // _US)
        self._timeout_ms = int(timeout.total_seconds() * 1000)
        self._local = SessionTracker(timeout, clock)
        self._redis: Any = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
            decode_responses=True)
        self._record = self._redis.register_script(_RECORD)
        self._adopt = self._redis.register_script(_ADOPT)
        self._retry_s = retry_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._degraded: str | None = None
        self._retry_at = 0.0
        self._count = 0
        self._closed = threading.Event()
        self._healer: threading.Thread | None = None
        self._healing = False  # a healer runs (set and cleared under the lock)

    # --- the contract ----------------------------------------------------------------------

    def __len__(self) -> int:
        """Live sessions: in Redis (every node's) as of this node's last batch, or this
        node's own while degraded."""
        return len(self._local) if self._degraded is not None else self._count

    @property
    def degraded(self) -> str | None:
        return self._degraded

    def record(self, row: EventRow, when: datetime, *,
               previous_visitor_id: int | Callable[[], int] | None = None,
               interactive: bool = True, now: datetime | None = None,
               ) -> list[SessionRow] | None:
        event = SessionEvent(row, when, previous_visitor_id, interactive,
                             now if now is not None else self._clock())
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[SessionEvent]) -> list[list[SessionRow] | None]:
        if not events:
            return []
        out: list[list[SessionRow] | None] = []
        with self._lock:
            if self._degraded is not None and not self._recovered(events[-1].now):
                return self._local.record_many(events)
            try:
                for start in range(0, len(events), CHUNK):
                    out += self._record_remote(events[start:start + CHUNK])
                return out
            except RedisError as exc:
                self._fail(exc)
                # The chunks Redis answered are recorded there; the rest here.
                return out + self._local.record_many(events[len(out):])

    def warm(self, sessions: list[Session]) -> None:
        with self._lock:
            try:
                self._adopt_all(sessions, self._clock())
            except RedisError as exc:
                self._fail(exc)
                self._local.warm(sessions)

    def close(self) -> None:
        self._closed.set()
        if self._healer is not None:
            self._healer.join(5)
        self._redis.close()

    # --- Redis -----------------------------------------------------------------------------

    def _record_remote(self, events: Sequence[SessionEvent]) -> list[list[SessionRow] | None]:
        now = events[-1].now
        args: list[Any] = [self._prefix, self._timeout_us, self._timeout_ms, _ms(now),
                           _ms(now - self.timeout)]
        fresh: list[SessionRow] = []
        for event in events:
            row = event.row
            previous = event.previous_visitor_id
            if callable(previous):
                previous = previous()
            name = row.name
            first = new_session(row, event.when, event.interactive).state
            fresh.append(first)
            args += [row.site_id, row.visitor_id, "" if previous is None else previous,
                     _us(event.when), row.timestamp,
                     "p" if name == PAGEVIEW else "e" if name == ENGAGEMENT else "c",
                     row.pathname, "1" if event.interactive else "0", first.session_id,
                     _encode(first)]
        reply = self._record(args=args)
        self._count = int(reply[0])
        out: list[list[SessionRow] | None] = []
        for event, first, answer in zip(events, fresh, reply[1:], strict=True):
            row = event.row
            if answer == 0:
                out.append(None)
                continue
            rows = [first] if answer == 1 else _changed(answer)
            row.session_id = rows[-1].session_id
            row.visitor_id = rows[-1].visitor_id
            out.append(rows)
        return out

    def _adopt_all(self, sessions: Sequence[Session], now: datetime) -> int:
        """Hand ``sessions`` to Redis (see ``_ADOPT``); those already over are left out."""
        args: list[Any] = []
        cutoff = now - self.timeout
        for session in sessions:
            if session.last < cutoff:
                continue
            state = session.state
            ttl = max(1, (session.last - cutoff) // timedelta(milliseconds=1))
            args += [state.site_id, state.session_id, state.visitor_id, state.version,
                     _us(session.start), _us(session.last), state.start, state.timestamp,
                     state.entry_page, state.exit_page, state.pageviews, state.events,
                     state.duration, state.is_bounce, int(session.interacted),
                     _encode(state), ttl]
        for start in range(0, len(args), CHUNK * 17):
            self._adopt(args=[self._prefix, _ms(now), *args[start:start + CHUNK * 17]])
        return len(args) // 17

    def _recovered(self, now: datetime) -> bool:
        """Once ``retry_s`` has passed since the last failure: hand this node's sessions to
        Redis; True when Redis took them (the store shares again)."""
        if self._monotonic() < self._retry_at:
            return False
        sessions = self._local.drain(now)
        try:
            self._redis.ping()  # answers even when there is nothing to hand over
            handed = self._adopt_all(sessions, now)
        except RedisError as exc:
            self._local.warm(sessions)
            self._fail(exc)
            return False
        log.warning("sessions: Redis answers again; %d sessions kept on this node meanwhile "
                    "were handed to it", handed)
        self._degraded = None
        return True

    def _fail(self, exc: RedisError) -> None:
        if self._degraded is None:
            log.warning("sessions: Redis failed (%s); sessions are kept on this node until it "
                        "answers again (visits reaching other nodes meanwhile are split)", exc)
        self._degraded = f"Redis unreachable: {str(exc)[:200]}"
        self._retry_at = self._monotonic() + self._retry_s
        if not self._healing and not self._closed.is_set():
            self._healing = True
            self._healer = threading.Thread(target=self._heal, daemon=True,
                                            name="sessions-redis-retry")
            self._healer.start()

    def _heal(self) -> None:
        """While degraded: try Redis every ``retry_s`` even when no event comes (a quiet node
        would otherwise say degraded until its next event); ends once it shares again."""
        while not self._closed.wait(self._retry_s):
            with self._lock:
                if self._degraded is None or self._recovered(self._clock()):
                    self._healing = False
                    return
        with self._lock:
            self._healing = False


def _changed(answer: list[Any]) -> list[SessionRow]:
    """The cancelled previous state and the new one, from a continued session's answer."""
    first = _decode(answer[20])
    ids = {"session_id": int(answer[0]), "visitor_id": int(answer[1])}
    before = msgspec.structs.replace(first, sign=-1, **ids, **_state(answer, 2))
    after = msgspec.structs.replace(first, sign=1, **ids, **_state(answer, 11))
    return [before, after]


def _state(answer: list[Any], at: int) -> dict[str, Any]:
    version, start, last, entry, exit_, pageviews, events, duration, bounce = answer[at:at + 9]
    return {"version": int(version), "start": start, "timestamp": last, "entry_page": entry,
            "exit_page": exit_, "pageviews": int(pageviews), "events": int(events),
            "duration": int(duration), "is_bounce": int(bounce)}

