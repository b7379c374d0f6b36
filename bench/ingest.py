"""Ingest benchmark: LiveInsight's collector against a bare granian app, under wrk.

    .venv/bin/python bench/ingest.py                      # 20 s per run, 1000 connections
    .venv/bin/python bench/ingest.py --duration 5         # a quick run
    .venv/bin/python bench/ingest.py --profile            # also py-spy the server under load
    .venv/bin/python bench/ingest.py --workers 1,2 --skip-batch   # serve --workers N scaling

Runs, one after the other on this machine:

1. the floor: ``bench/bare_app.py`` (reads the body, answers 202) on granian, configured as
   ``liveinsight serve`` runs LiveInsight (ASGI, one worker, uvloop);
2. ``liveinsight serve`` on a fresh data dir (default fsync policy ``interval``, trusted proxy
   127.0.0.1), with ``wrk -t2 -c1000`` posting varied Plausible events (``bench/ingest.lua``);
3. the batch mode: native 1000-event batches to ``/api/events`` with an API key
   (``bench/ingest_batch.lua``).

With ``--workers 1,2`` (a list), steps 1 and 2 run once per worker count: the floor with
that many granian workers and ``liveinsight serve --workers N`` (above 1: the engine owner
plus N workers sharing sessions through Redis at ``LIVEINSIGHT_BENCH_REDIS_URL``, default
redis://127.0.0.1:6379/0, under a key prefix of the run's own), then the scaling factor of
each (rate at N / rate at the first count).

It prints the rates, the ratio to the floor (target ≥ 0.5), p50/p99 latency (target p99 <
100 ms), the server's CPU time (all its processes and threads) per answered request during
the wrk run (what the machine's other load disturbs less than the rate), non-2xx answers,
events stored (read from the data dir after SIGTERM) against events acknowledged (wrk's
2xx), and the server's peak RSS. Exit status 0 whatever the figures: the numbers are the
result.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SECRET = "bench-secret-key-with-enough-entropy-0123456789"
METRICS_TOKEN = "bench-metrics-token"


# --- processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered at {url} within {timeout:.0f} s")


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process tree so far (every thread of each process)."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples the RSS of a process tree; ``peak_mb`` is the largest sum seen, ``hwm_mb``
    the kernel's high-water mark (VmHWM) per process, read at :meth:`stop`."""

    pid: int
    peak_kb: int = 0
    hwm_kb: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_kb = max(self.peak_kb, sum(_status_kb(p, "VmRSS") for p in _tree(self.pid)))

    def stop(self) -> None:
        self.hwm_kb = {p: _status_kb(p, "VmHWM") for p in _tree(self.pid)}
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def hwm_mb(self) -> float:
        return max(self.hwm_kb.values(), default=0) / 1024


def _worker(pid: int) -> int:
    """The process that runs the app: granian's worker (the deepest process in the tree)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tree = _tree(pid)
        if len(tree) > 1:
            return tree[-1]
        time.sleep(0.1)
    return pid


# --- wrk -------------------------------------------------------------------------------------


def _wrk(url: str, script: str, args: argparse.Namespace, connections: int,
         duration: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = ["wrk", f"-t{args.threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout",
           "10s", "-s", str(BENCH / script), url]
    print("  $", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "BENCH_DIR": str(BENCH), **(env or {})})
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            result["ok"] = result["requests"] - result["status_errors"]
            result["seconds"] = result["duration_us"] / 1e6
            result["rate"] = result["ok"] / result["seconds"]
            return result
    raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


# --- LiveInsight -----------------------------------------------------------------------------


def _env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "LIVEINSIGHT_DATA_DIR": str(data_dir),
        "LIVEINSIGHT_SECRET_KEY": SECRET,
        "LIVEINSIGHT_TRUSTED_PROXIES": "127.0.0.1",
        "LIVEINSIGHT_LOG_LEVEL": "warning",
        "LIVEINSIGHT_METRICS_TOKEN": METRICS_TOKEN,
        **extra,
    }


def _cli(env: dict[str, str], *argv: str) -> str:
    proc = subprocess.run([str(BIN / "liveinsight"), *argv], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"liveinsight {' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def _stored_events(data_dir: Path) -> int:
    sys.path.insert(0, str(BENCH.parent / "src"))
    from liveinsight.storage.embedded import EmbeddedStore

    store = EmbeddedStore(data_dir / "chdb", "liveinsight")
    try:
        return int(store.query("SELECT count() FROM liveinsight.events").scalar())
    finally:
        store.close()


@dataclass
class ServerRun:
    wrk: dict[str, Any]
    rss: RssSampler
    stored: int
    accepted: float
    dropped: float
    shutdown_s: float
    wal_left: int
    cpu_s: float = 0.0
    profile: list[str] = field(default_factory=list)


def _run_server(args: argparse.Namespace, *, batch: bool, workers: int = 1) -> ServerRun:
    data_dir = Path(tempfile.mkdtemp(prefix="liveinsight-bench-"))
    extra = {"LIVEINSIGHT_WAL_FSYNC": args.fsync}
    if workers > 1:
        extra |= {"LIVEINSIGHT_WORKERS": str(workers),
                  "LIVEINSIGHT_REDIS_URL": os.environ.get("LIVEINSIGHT_BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"),
                  "LIVEINSIGHT_REDIS_PREFIX": f"bench:{os.getpid()}:{time.monotonic_ns()}:"}
    if batch:  # let one API key send as fast as it can, 1000 events per body
        extra |= {"LIVEINSIGHT_API_KEY_RATE": "1000000000",
                  "LIVEINSIGHT_API_KEY_BURST": "1000000000",
                  "LIVEINSIGHT_MAX_BODY_BYTES": str(4 << 20)}
    env = _env(data_dir, extra)
    try:
        _cli(env, "create-site", "example.com")
        key = _cli(env, "create-api-key", "bench", "--scope", "ingest").strip().splitlines()[-1]
        port = _free_port()
        proc = subprocess.Popen([str(BIN / "liveinsight"), "serve", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/health", proc)
        if workers > 1:  # granian starts its workers one after the other
            _wait_tree(proc.pid, workers + 2)
        rss = RssSampler(proc.pid).start()
        spy = _start_profile(_worker(proc.pid), args) if args.profile else None
        cpu = _cpu_seconds(proc.pid)
        if batch:
            result = _wrk(base, "ingest_batch.lua", args, args.batch_connections,
                          args.batch_duration,
                          {"LIVEINSIGHT_BENCH_KEY": key, "BATCH_EVENTS": str(args.batch_events)})
        else:
            result = _wrk(base, "ingest.lua", args, args.connections, args.duration)
        cpu = _cpu_seconds(proc.pid) - cpu
        top = _finish_profile(spy) if spy else []
        scrape = urllib.request.Request(
            base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        with urllib.request.urlopen(scrape, timeout=30) as resp:
            metrics = resp.read().decode()
        rss.stop()
        started = time.monotonic()
        if not _stop(proc, "the server"):
            print("  (what is left in its log would be ingested at its next start; it is not "
                  "counted below)")
        shutdown_s = time.monotonic() - started
        wal_left = sum(p.stat().st_size for p in (data_dir / "wal").glob("*.wal"))
        return ServerRun(
            wrk=result, rss=rss, stored=_stored_events(data_dir),
            accepted=_metric(metrics, "liveinsight_events_accepted_total"),
            dropped=_metric(metrics, "liveinsight_events_dropped_total"),
            shutdown_s=shutdown_s, wal_left=wal_left, cpu_s=cpu, profile=top)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_tree(pid: int, processes: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(_tree(pid)) < processes and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # the last worker's app start


def _run_bare(args: argparse.Namespace, workers: int = 1
              ) -> tuple[dict[str, Any], RssSampler]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--loop", "uvloop", "--no-access-log", "--log-level",
         "warning", "--working-dir", str(BENCH), "bare_app:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc)
        rss = RssSampler(proc.pid).start()
        result = _wrk(f"http://127.0.0.1:{port}", "ingest.lua", args, args.connections,
                      args.duration)
        rss.stop()
        return result, rss
    finally:
        _stop(proc, "the floor")


def _stop(proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> bool:
    """SIGTERM ``proc``; SIGKILL its process group if it has not exited within ``timeout``.
    Under saturation granian's worker can miss a SIGTERM (its event loop's wake-up pipe is
    full when the signal arrives), with or without LiveInsight in it. True when it stopped
    gracefully."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        print(f"  {what} did not stop within {timeout:.0f} s of SIGTERM: SIGKILL")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return False


# --- profiling -------------------------------------------------------------------------------


def _start_profile(pid: int, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], Path]:
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = Path(tempfile.mkdtemp(prefix="liveinsight-spy-")) / "stacks.txt"
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(args.duration) - 2)),
         "--rate",
         "200", "--format", "raw", "--nonblocking", "--gil", "--threads", "--output",
         str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


# Frames every request passes through (server bootstrap, event loop, ASGI plumbing): left out
# of the inclusive list so it shows where the time goes instead.
_FRAMEWORK_FRAMES = ("granian/", "typer/", "multiprocessing/", "asyncio/", "threading.py",
                     "liveinsight/cli.py", "(liveinsight:", "starlette/middleware/",
                     "starlette/routing.py", "starlette/_exception_handler.py",
                     "fastapi/routing.py", "fastapi/applications.py", "starlette/applications.py")


def _finish_profile(spy: tuple[subprocess.Popen[bytes], Path]) -> list[str]:
    proc, out = spy
    proc.wait(timeout=120)
    if not out.exists():
        return ["(py-spy wrote no profile)"]
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            if not any(skip in frame for skip in _FRAMEWORK_FRAMES):
                inclusive[frame] += n
    lines = [f"{total} samples of the thread holding the GIL; by thread:"]
    lines += [f"  {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common(6)]
    lines.append("top frames by own time:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(15)]
    lines.append("top frames including callees:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(25)]
    return lines


# --- the log alone ---------------------------------------------------------------------------


def _wal_costs(seconds: float = 1.5) -> None:
    """Appends per second and append latency of the write-ahead log alone, per fsync policy
    (one thread, a 2 KB frame: about one enriched event with its session rows)."""
    sys.path.insert(0, str(BENCH.parent / "src"))
    from liveinsight.ingest.wal import WriteAheadLog

    payload = b'{"_k":"e","pathname":"' + b"x" * 1800 + b'"}\n'
    for policy in ("never", "interval", "always"):
        directory = Path(tempfile.mkdtemp(prefix="liveinsight-wal-"))
        wal = WriteAheadLog(directory, fsync=policy)
        latencies = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            t = time.perf_counter()
            wal.append(payload, 1)
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        wal.close()
        shutil.rmtree(directory, ignore_errors=True)
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"  fsync={policy:8} {len(latencies) / elapsed:>9,.0f} appends/s, "
              f"p50 {p50 * 1e6:,.0f} us, p99 {p99 * 1e6:,.0f} us", flush=True)


# --- report ----------------------------------------------------------------------------------


def _latency(r: dict[str, Any]) -> str:
    return f"p50 {r['p50_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms"


def _errors(r: dict[str, Any]) -> str:
    return (f"non-2xx {r['status_errors']}, socket errors connect/read/write/timeout "
            f"{r['connect_errors']}/{r['read_errors']}/{r['write_errors']}/{r['timeouts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fsync", default="interval", choices=["always", "interval", "never"])
    parser.add_argument("--batch-duration", type=float, default=None,
                        help="seconds for the batch run (default: --duration)")
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--batch-events", type=int, default=1000)
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-wal", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the server under load")
    parser.add_argument("--workers", default="1",
                        help="worker counts, comma-separated (e.g. 1,2): the floor and "
                        "POST /api/event with each")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    args.batch_duration = args.batch_duration or args.duration
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    print(f"ingest benchmark: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
          f"{os.cpu_count()} CPUs, fsync={args.fsync}", flush=True)
    if not args.skip_wal:
        print("write-ahead log alone (one thread, 2 KB frames):", flush=True)
        _wal_costs()
    floors: dict[int, float] = {}
    rates: dict[int, float] = {}
    for count in counts:
        label = f" with {count} worker{'s' if count > 1 else ''}" if counts != [1] else ""
        bare = None
        if not args.skip_bare:
            print(f"floor: bare ASGI app on granian{label}", flush=True)
            bare, bare_rss = _run_bare(args, count)
            floors[count] = bare["rate"]
            print(f"  {bare['rate']:,.0f} req/s, {_latency(bare)}, {_errors(bare)}, "
                  f"peak RSS {bare_rss.hwm_mb:.0f} MB", flush=True)
        if not args.skip_single:
            print(f"LiveInsight: POST /api/event (Plausible body){label}", flush=True)
            run = _run_server(args, batch=False, workers=count)
            r = run.wrk
            rates[count] = r["rate"]
            print(f"  {r['rate']:,.0f} req/s, {_latency(r)}, {_errors(r)}")
            print(f"  server CPU (every process and thread) per answered request: "
                  f"{run.cpu_s / max(r['ok'], 1) * 1e6:.1f} µs")
            if bare:
                ratio = r["rate"] / bare["rate"]
                verdict = "meets" if ratio >= 0.5 else "BELOW"
                print(f"  ratio to the floor: {ratio:.2f} ({verdict} the 0.5 target)")
            print(f"  p99 {r['p99_us'] / 1000:.1f} ms "
                  f"({'meets' if r['p99_us'] < 100_000 else 'ABOVE'} the 100 ms target)")
            _print_durability(run, r["ok"], 1)
            if count > 1:
                print("  (accepted and dropped are the counters of the worker that answered "
                      "/metrics: each worker counts its own)")
            for line in run.profile:
                print("  " + line)
    if len(counts) > 1:
        first = counts[0]
        for name, series in (("floor", floors), ("LiveInsight", rates)):
            if first in series:
                scaling = ", ".join(f"{n}: x{series[n] / series[first]:.2f}"
                                    for n in counts[1:] if n in series)
                print(f"scaling of the {name} against {first} worker(s): {scaling}")
    if not args.skip_batch:
        print(f"LiveInsight: POST /api/events ({args.batch_events}-event batches, API key, "
              f"-c{args.batch_connections})", flush=True)
        run = _run_server(args, batch=True)
        r = run.wrk
        events = r["rate"] * args.batch_events
        print(f"  {r['rate']:,.1f} req/s = {events:,.0f} events/s "
              f"({'meets' if events >= 200_000 else 'BELOW'} the 200,000 target), "
              f"{_latency(r)}, {_errors(r)}")
        _print_durability(run, r["ok"], args.batch_events)
        for line in run.profile:
            print("  " + line)


def _print_durability(run: ServerRun, ok_requests: int, per_request: int) -> None:
    acked = ok_requests * per_request
    print(f"  acknowledged events (wrk 2xx x {per_request}): {acked:,}; accepted by the "
          f"server: {run.accepted:,.0f}; dropped by the pipeline: {run.dropped:,.0f}; "
          f"stored after SIGTERM: {run.stored:,}")
    missing = acked - run.stored - int(run.dropped)
    if missing > 0:
        print(f"  LOST: {missing:,} acknowledged events are not stored")
    else:
        print(f"  no acknowledged event lost (stored - acknowledged = {-missing:,}: requests in "
              "flight when wrk stopped, answered after it stopped counting)")
    print(f"  graceful shutdown took {run.shutdown_s:.1f} s; WAL bytes left: {run.wal_left}")
    print(f"  server peak RSS: {run.rss.hwm_mb:.0f} MB (VmHWM of the largest process), "
          f"{run.rss.peak_mb:.0f} MB (largest sampled sum over the process tree)")


if __name__ == "__main__":
    main()
