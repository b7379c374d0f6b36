"""Load benchmark: Locust users against one ``liveinsight serve`` with a month of demo data.

    .venv/bin/pip install -e '.[bench]'     # locust, matplotlib
    .venv/bin/python bench/load/run.py --scenario both --users 1000 --minutes 3
    .venv/bin/python bench/load/run.py --scenario dashboards --users 1000 --minutes 3
    .venv/bin/python bench/load/run.py --scenario visitors --users 1000 --minutes 3
    .venv/bin/python bench/load/run.py --scenario both --users 1000 --minutes 3 --ops
    .venv/bin/python bench/load/run.py --scenario both --users 500 --minutes 30 --ops  # the soak

Scenarios (``bench/load/locustfile.py``): ``visitors`` — people browsing the three demo sites
(about 100 events/s per 1000 users); ``dashboards`` — people using a dashboard (period,
filter, tab and site changes, each reloading the cards); ``both`` — half and half.
``--ops`` adds the operations a production node runs beside the traffic (issue 17's scenario
3): the alert evaluator every 5 s over four rules (two metric thresholds, a traffic spike
rule on a demo site and a security rule) that notify a webhook receiver this process runs,
and a backup of the node (``POST /admin/backups``, verified) started at half time; the report
says how many evaluations and notifications there were and how long the backup took.

1. A fresh data dir gets the demo's three sites (30 days of traffic), a fourth site with no
   traffic for the freshness probe, and an API key (stats + admin); the server starts.
2. The floor: the median latency of ``GET /health`` on the calm server (20 calls).
3. Locust runs headless for ``--minutes`` (``--users`` spawned at ``--spawn-rate``/s) while
   this process samples the server's CPU and RSS (its whole process tree) and Locust's CPU
   every second, and once a second sends one event to the probe site and polls
   ``/api/realtime`` until it shows it (freshness: 202 → visible).
4. The server is stopped (SIGTERM: the log drains), then the events stored during the run
   are compared with the ones acknowledged (202).

Prints per endpoint: requests, RPS, errors, average, p50/p95/p99, and p95 as a ratio of the
floor; the cache hit ratio over the run (``/admin/cache/stats``); CPU and RSS (start, peak,
growth over the second half of the load, along its least-squares line); freshness p50/p95;
events acknowledged vs stored. With ``--report PATH`` also writes a markdown report there, a
PNG plot (p95 latency, RSS and CPU over time) and the samples as CSV beside it. Exit status 0
whatever the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from soak import _slope  # noqa: E402  (bench/soak.py)

from ingest import BIN, _cli, _env, _free_port, _wait_http  # noqa: E402  (bench/ingest.py)

PROBE_SITE = "probe.example"


def _http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
          timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class Sampler(threading.Thread):
    """CPU (% of one core) and RSS (MB) of the server's process tree and of Locust's."""

    def __init__(self, server: int) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.locust: int | None = None
        self.samples: list[tuple[float, float, float, float]] = []  # t, cpu, rss, locust cpu
        self.stop = threading.Event()
        self._known: dict[int, psutil.Process] = {}

    def _cpu(self, procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            known = self._known.setdefault(p.pid, p)
            with contextlib.suppress(psutil.NoSuchProcess):
                total += known.cpu_percent(None)
        return total

    def run(self) -> None:
        began = time.monotonic()
        while not self.stop.wait(1.0):
            server = _tree(self.server)
            rss = 0.0
            for p in server:
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss += p.memory_info().rss / 2**20
            locust = self._cpu(_tree(self.locust)) if self.locust else 0.0
            self.samples.append((time.monotonic() - began, self._cpu(server), rss, locust))


class Freshness(threading.Thread):
    """Once a second a new visitor's pageview on the probe site; time until /api/realtime
    counts it."""

    def __init__(self, base: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.delays: list[float] = []
        self.missed = 0
        self.acknowledged = 0
        self.stop = threading.Event()

    def _visitors(self) -> int:
        status, body = _http(f"{self.base}/api/realtime?site_id={PROBE_SITE}",
                             headers={"authorization": f"Bearer {self.key}"})
        return int(json.loads(body)["visitors"]) if status == 200 else -1

    def run(self) -> None:
        n = 0
        while not self.stop.wait(1.0):
            n += 1
            try:
                self._probe(n)
            except OSError:  # a timeout under overload: counted, not fatal
                self.missed += 1

    def _probe(self, n: int) -> None:
        before = self._visitors()
        body = json.dumps({"n": "pageview", "u": f"https://{PROBE_SITE}/p{n}",
                           "d": PROBE_SITE}).encode()
        sent = time.monotonic()
        status, _ = _http(self.base + "/api/event", data=body, headers={
            "content-type": "text/plain", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
            "x-forwarded-for": f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"})
        if status != 202:
            self.missed += 1
            return
        self.acknowledged += 1
        while time.monotonic() - sent < 10:
            if self._visitors() > before:
                self.delays.append(time.monotonic() - sent)
                break
            time.sleep(0.02)
        else:
            self.missed += 1


class Receiver(http.server.ThreadingHTTPServer):
    """The webhook the alert rules notify: counts the notifications it gets."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with contextlib.suppress(ValueError):
                    received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Ops:
    """Scenario 3's operations: alert rules evaluated during the run, a backup at half time."""

    def __init__(self, base: str, key: str, site: str) -> None:
        self.base, self.key, self.site = base, key, site
        self.receiver = Receiver()
        self.backup: dict[str, Any] = {}
        self.history_before = 0

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"authorization": f"Bearer {self.key}",
                     "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def set_up(self) -> None:
        port = self.receiver.server_address[1]
        channel = self._call("POST", "/admin/alerts/channel", {
            "name": "load: receiver", "kind": "webhook",
            "url": f"http://127.0.0.1:{port}/hook", "max_per_hour": 1000})["id"]
        rules = [
            {"name": "load: p95 of queries", "metric": "liveinsight_query_seconds",
             "stat": "p95", "window": "1m", "op": ">", "threshold": 0.02, "for": "10s",
             "severity": "warning", "channels": [channel]},
            {"name": "load: log backlog", "metric": "liveinsight_wal_bytes", "op": ">",
             "threshold": 500_000_000, "for": "1m", "severity": "critical",
             "channels": [channel]},
            {"name": "load: traffic spike", "kind": "traffic", "site_id": self.site,
             "mode": "spike", "visitors": 5, "window": "5m", "for": "10s",
             "channels": [channel]},
            {"name": "load: sign-in attacks", "kind": "security", "action": "login.",
             "events": 10, "window": "15m", "severity": "critical", "channels": [channel]},
        ]
        for rule in rules:
            self._call("POST", "/admin/alerts/rule", rule)
        self.history_before = len(self._call("GET", "/admin/alerts/history?limit=500")
                                  ["events"])

    def take_backup(self) -> None:
        began = time.monotonic()
        try:
            job = self._call("POST", "/admin/backups", {"verify": True})
            while True:
                time.sleep(1)
                job = self._call("GET", f"/admin/backups/jobs/{job['id']}")
                if job["status"] != "running":
                    break
        except (SystemExit, OSError) as exc:  # refused or timed out: reported, not fatal
            job = {"status": "failed", "error": str(exc)}
        self.backup = {"status": job["status"], "seconds": time.monotonic() - began,
                       "error": job.get("error")}

    def summary(self) -> list[str]:
        state = self._call("GET", "/admin/monitoring/alerts")
        rules = state.get("rules", [])
        states = [f"{r.get('name', '?')} {r.get('state')}"
                  + (f" (value {max(x['value'] for x in r['series']):.3g})"
                     if r.get("series") else "") for r in rules]
        events = self._call("GET", "/admin/alerts/history?limit=500")["events"]
        kinds: dict[str, int] = {}
        for event in events[:max(0, len(events) - self.history_before)]:
            kinds[event.get("kind", "?")] = kinds.get(event.get("kind", "?"), 0) + 1
        backup = (f"backup at half time: {self.backup['status']} in "
                  f"{self.backup['seconds']:.0f} s"
                  + (f" ({self.backup['error']})" if self.backup.get("error") else "")
                  if self.backup else "backup at half time: did not finish before the end")
        return [f"alerting: {len(rules)} rules evaluated every 5 s; at the end: "
                f"{'; '.join(states)}; history: "
                f"{', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'nothing'}; "
                f"{len(self.receiver.received)} webhook notifications received",
                backup]


def _stored(data_dir: Path) -> int:
    """Events in the store (in a child process: chDB holds one data path per process)."""
    code = ("import sys; from liveinsight.storage.embedded import EmbeddedStore as S; "
            "s = S(sys.argv[1], 'liveinsight'); "
            "print(s.query('SELECT count() FROM liveinsight.events').scalar()); s.close()")
    deadline = time.monotonic() + 120
    while True:  # the server's worker may still be letting go of the data dir
        out = subprocess.run([sys.executable, "-c", code, str(data_dir / "chdb")],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return int(out.stdout.strip().splitlines()[-1])
        if time.monotonic() > deadline:
            raise SystemExit(f"could not count the stored events:\n{out.stderr[-3000:]}")
        time.sleep(2)


def _cache(base: str, key: str) -> dict[str, Any]:
    status, body = _http(base + "/admin/cache/stats",
                         headers={"authorization": f"Bearer {key}"})
    return dict(json.loads(body)["layers"]) if status == 200 else {}


def _growth(points: list[tuple[float, float]]) -> float:
    """Growth in % over ``points`` (seconds, MB) along their least-squares line."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    per_second = _slope(points) / 60
    begins = mean_v + per_second * (points[0][0] - mean_t)
    return per_second * (points[-1][0] - points[0][0]) / begins * 100


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _history(prefix: Path) -> list[tuple[float, float, float]]:
    """(seconds, p95 ms, requests/s) of all requests, from Locust's history CSV."""
    rows = []
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return rows
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] != "Aggregated" or row["95%"] in ("N/A", ""):
                continue
            rows.append((float(row["Timestamp"]), float(row["95%"]),
                         float(row["Requests/s"] or 0)))
    if rows:
        t0 = rows[0][0]
        rows = [(t - t0, p95, rps) for t, p95, rps in rows]
    return rows


def _plot(path: Path, history: list[tuple[float, float, float]],
          samples: list[tuple[float, float, float, float]], title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (no plot: pip install matplotlib, or -e '.[bench]')")
        return False
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    if history:
        ax1.plot([h[0] for h in history], [h[1] for h in history], label="p95 ms (all)")
        ax1b = ax1.twinx()
        ax1b.plot([h[0] for h in history], [h[2] for h in history], color="grey",
                  alpha=0.5, label="requests/s")
        ax1b.set_ylabel("requests/s")
    ax1.set_ylabel("p95 latency (ms)")
    ax1.axhline(100, color="red", linestyle=":", linewidth=1)
    ax1.set_title(title)
    ax1.legend(loc="upper left")
    ax2.plot([s[0] for s in samples], [s[2] for s in samples], label="server RSS (MB)")
    ax2b = ax2.twinx()
    ax2b.plot([s[0] for s in samples], [s[1] for s in samples], color="orange", alpha=0.6,
              label="server CPU %")
    ax2b.set_ylabel("CPU % (of one core)")
    ax2.set_ylabel("RSS (MB)")
    ax2.set_xlabel("seconds")
    ax2.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=["visitors", "dashboards", "both"], default="both")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--spawn-rate", type=float, default=50)
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="demo traffic multiplier")
    ap.add_argument("--redis-url", help="serve with this Redis (L2, shared state)")
    ap.add_argument("--report", type=Path, help="write a markdown report (and a PNG beside)")
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    ap.add_argument("--ops", action="store_true", help="alert rules evaluated every 5 s and "
                    "a verified backup at half time, beside the traffic (scenario 3)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a server setting (cache_live_lag_seconds=5 → "
                         "LIVEINSIGHT_CACHE_LIVE_LAG_SECONDS=5); repeatable")
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="liveinsight-load-"))
    extra = {"LIVEINSIGHT_REDIS_URL": args.redis_url} if args.redis_url else {}
    for item in args.set:
        name, _, value = item.partition("=")
        extra[f"LIVEINSIGHT_{name.strip().upper()}"] = value
    if args.ops:
        extra.update({"LIVEINSIGHT_ALERTS_INTERVAL_SECONDS": "5",
                      "LIVEINSIGHT_ALERTS_ALLOW_PRIVATE_TARGETS": "true"})
    env = _env(data_dir, extra)
    began = time.monotonic()
    _cli(env, "demo", "--days", "30", "--scale", str(args.scale))
    _cli(env, "create-site", PROBE_SITE)
    key = _cli(env, "create-api-key", "load", "--scope", "stats", "--scope", "admin"
               ).strip().splitlines()[-1].strip()
    sites = [s["domain"] for s in json.loads(_cli(env, "list-sites", "--json"))
             if s["domain"] != PROBE_SITE]
    print(f"load benchmark: {args.scenario}, {args.users} users, {args.minutes:g} min; "
          f"demo data ready in {time.monotonic() - began:.0f} s; sites {', '.join(sites)}")
    stored_before = _stored(data_dir)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "liveinsight"), "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    csv_dir = Path(tempfile.mkdtemp(prefix="liveinsight-locust-"))
    try:
        _wait_http(base + "/health", server, timeout=120)
        calm = []
        for _ in range(20):
            t = time.perf_counter()
            _http(base + "/health")
            calm.append((time.perf_counter() - t) * 1000)
        floor = statistics.median(calm)
        cache_before = _cache(base, key)
        ops = Ops(base, key, sites[0]) if args.ops else None
        if ops:
            ops.set_up()
            backup = threading.Timer(args.minutes * 30, ops.take_backup)
            backup.daemon = True
            backup.start()
        sampler = Sampler(server.pid)
        fresh = Freshness(base, key)
        sampler.start()
        fresh.start()
        prefix = csv_dir / "run"
        locust = subprocess.Popen(
            [str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless",
             "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.minutes * 60:g}s",
             "--host", base, "--csv", str(prefix), "--csv-full-history", "--only-summary",
             "--stop-timeout", "15", "--loglevel", "WARNING"],
            env={**os.environ, "LOAD_SITES": ",".join(sites), "LOAD_API_KEY": key,
                 "LOAD_SCENARIO": args.scenario},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler.locust = locust.pid
        _, err = locust.communicate(timeout=args.minutes * 60 + 300)
        fresh.stop.set()
        fresh.join(15)
        sampler.stop.set()
        sampler.join(5)
        cache_after = _cache(base, key)
        if ops:
            backup.join(600)
            ops_summary = ops.summary()
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
    if not Path(f"{prefix}_stats.csv").exists():
        raise SystemExit(f"locust wrote no statistics:\n{err.decode()[-3000:]}")
    stored_after = _stored(data_dir)

    rows = _read_stats(prefix)
    lines = ["| endpoint | requests | req/s | errors | avg ms | p50 ms | p95 ms | p99 ms | "
             "p95 / floor |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    acknowledged = 0
    total = failures = 0
    aggregate: dict[str, str] = {}
    for row in rows:
        if row["Name"] == "Aggregated":
            aggregate = row
            continue
        count, failed = int(row["Request Count"]), int(row["Failure Count"])
        if row["Name"].startswith("collect"):
            acknowledged += count - failed
        total += count
        failures += failed
        p95 = float(row["95%"]) if row["95%"] not in ("N/A", "") else float("nan")
        lines.append(f"| {row['Name']} | {count:,} | {float(row['Requests/s']):.1f} | {failed} "
                     f"| {float(row['Average Response Time']):.0f} | {row['50%']} | {row['95%']} "
                     f"| {row['99%']} | {p95 / floor:.0f} |")
    if aggregate:
        lines.append(f"| **all** | **{int(aggregate['Request Count']):,}** | "
                     f"**{float(aggregate['Requests/s']):.1f}** | "
                     f"**{aggregate['Failure Count']}** | "
                     f"**{float(aggregate['Average Response Time']):.0f}** | "
                     f"**{aggregate['50%']}** | **{aggregate['95%']}** | "
                     f"**{aggregate['99%']}** | |")
    acknowledged += fresh.acknowledged
    hits = sum(cache_after.get(layer, {}).get("hits", 0) - cache_before.get(layer, {}).get(
        "hits", 0) for layer in cache_after)
    misses = (cache_after.get("l2", cache_after.get("l1", {})).get("misses", 0)
              - cache_before.get("l2", cache_before.get("l1", {})).get("misses", 0))
    ratio = hits / (hits + misses) if hits + misses else float("nan")
    samples = sampler.samples
    rss = [s[2] for s in samples]
    # The second half of the load itself: samples after the planned end (Locust's wind-down,
    # the RSS falling as users stop) would hide growth, as they did in an earlier report.
    # Growth is the least-squares line over that half (a backup's spike is one sample of
    # many), relative to the line's value where the half begins.
    load_end = args.minutes * 60
    half = [(s[0], s[2]) for s in samples if load_end / 2 <= s[0] <= load_end]
    cpu = [s[1] for s in samples]
    locust_cpu = [s[3] for s in samples]
    growth = _growth(half)
    summary = [
        f"floor (GET /health, calm, median of 20): {floor:.2f} ms",
        f"error rate: {failures}/{total} = {100 * failures / max(total, 1):.3f} %",
        f"cache hits over the run: {hits:,} hits, {misses:,} misses, ratio {ratio:.1%}",
        f"server CPU: mean {statistics.mean(cpu) if cpu else 0:.0f} %, peak "
        f"{max(cpu, default=0):.0f} % (of one core; 2 cores = 200 %); Locust CPU mean "
        f"{statistics.mean(locust_cpu) if locust_cpu else 0:.0f} %",
        f"server RSS: start {rss[0] if rss else 0:.0f} MB, peak {max(rss, default=0):.0f} MB, "
        f"end {rss[-1] if rss else 0:.0f} MB; second half of the load: growth {growth:+.1f} % "
        f"(fitted slope {_slope(half):+.2f} MB/min; first → last sample "
        f"{half[0][1] if half else 0:.0f} → {half[-1][1] if half else 0:.0f} MB)",
        f"freshness (202 → in /api/realtime): p50 {_percentile(fresh.delays, 0.5) * 1000:.0f} "
        f"ms, p95 {_percentile(fresh.delays, 0.95) * 1000:.0f} ms over {len(fresh.delays)} "
        f"probes ({fresh.missed} not seen within 10 s or refused)",
        f"events: {acknowledged:,} acknowledged (202) during the run, "
        f"{stored_after - stored_before:,} stored → "
        f"{max(0, acknowledged - (stored_after - stored_before)):,} lost",
    ]
    if args.ops:
        summary += ops_summary
    title = (f"{args.scenario}{' + ops' if args.ops else ''}, {args.users} users, "
             f"{args.minutes:g} min"
             f"{''.join(', ' + s for s in args.set)}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
             f"{os.getloadavg()[0]:.1f}")
    print(title)
    print("\n".join(lines))
    print("\n".join("- " + s for s in summary))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        png = args.report.with_suffix(".png")
        plotted = _plot(png, _history(prefix), samples, title)
        text = [f"### {title}", "", "\n".join(lines), "", *("- " + s for s in summary)]
        if plotted:
            text += ["", f"![p95 latency, RSS and CPU over time]({png.name})"]
        samples_csv = args.report.with_suffix(".samples.csv")
        samples_csv.write_text("seconds,server_cpu_percent,server_rss_mb,locust_cpu_percent\n"
                               + "".join(f"{t:.1f},{c:.0f},{r:.1f},{lc:.0f}\n"
                                         for t, c, r, lc in samples))
        text += ["", f"Samples (one a second): [{samples_csv.name}]({samples_csv.name})."]
        args.report.write_text("\n".join(text) + "\n")
        print(f"report: {args.report}" + (f", plot: {png}" if plotted else ""))
    shutil.rmtree(csv_dir, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
