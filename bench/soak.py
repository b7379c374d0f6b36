"""Memory under sustained load: peak RSS under full load, then RSS over a long run at half
that rate (target: at most 1 GiB, no steady growth).

    .venv/bin/python bench/soak.py                        # 20 s peak, then 10 min at half
    .venv/bin/python bench/soak.py --minutes 2            # a quicker look

1. ``liveinsight serve`` on a fresh data dir takes ``wrk -c1000`` for ``--peak-seconds``
   (``bench/ingest.lua``): its rate R and the server's peak RSS;
2. the same server then takes paced requests at R/2 (``bench/soak.lua``: 100 connections,
   each pausing between requests) for ``--minutes``, while the server's RSS (the whole
   process tree) is sampled every 10 s;
3. SIGTERM, and the stored event count is compared with the acknowledged one.

It prints the RSS per minute, the growth over the second half of the soak (MB per minute, a
least-squares slope) and the verdicts. Exit status 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (
    BIN,
    _cli,
    _env,
    _free_port,
    _status_kb,
    _stop,
    _stored_events,
    _tree,
    _wait_http,
    _wrk,
)

SOAK_CONNECTIONS = 100


def _rss_mb(pid: int) -> float:
    return sum(_status_kb(p, "VmRSS") for p in _tree(pid)) / 1024


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 60 * sum((t - mx) * (v - my) for t, v in points) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peak-seconds", type=float, default=20)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="liveinsight-soak-"))
    env = _env(data_dir, {})
    try:
        _cli(env, "create-site", "example.com")
        port = _free_port()
        proc = subprocess.Popen([str(BIN / "liveinsight"), "serve", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/health", proc)
        print(f"soak benchmark: {args.peak_seconds:g} s at full load, then {args.minutes:g} "
              "min at half the rate")
        peak_rss = [0.0]
        stop_peak = threading.Event()

        def sample_peak() -> None:
            while not stop_peak.wait(0.25):
                peak_rss[0] = max(peak_rss[0], _rss_mb(proc.pid))

        sampler = threading.Thread(target=sample_peak, daemon=True)
        sampler.start()
        peak = _wrk(base, "ingest.lua", args, 1000, args.peak_seconds)
        stop_peak.set()
        sampler.join()
        rate = peak["rate"]
        print(f"  full load: {rate:,.0f} req/s, peak RSS {peak_rss[0]:,.0f} MB")

        target = rate / 2
        delay_ms = max(1, round(SOAK_CONNECTIONS * 1000 / target))
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample_soak() -> None:
            began = time.monotonic()
            while not done.wait(10):
                samples.append((time.monotonic() - began, _rss_mb(proc.pid)))

        watcher = threading.Thread(target=sample_soak, daemon=True)
        watcher.start()
        soak = _wrk(base, "soak.lua", args, SOAK_CONNECTIONS, args.minutes * 60,
                    {"SOAK_DELAY_MS": str(delay_ms)})
        done.set()
        watcher.join()
        print(f"  half load: aimed at {target:,.0f} req/s, got {soak['rate']:,.0f} req/s, "
              f"p50 {soak['p50_us'] / 1000:.1f} ms, p99 {soak['p99_us'] / 1000:.1f} ms, "
              f"non-2xx {soak['status_errors']}")
        print("  RSS during the soak (MB), one sample a minute:")
        for t, mb in samples[5::6]:
            print(f"    {t / 60:5.1f} min  {mb:7.0f}")
        second_half = [(t, mb) for t, mb in samples if t >= samples[-1][0] / 2] if samples else []
        slope = _slope(second_half)
        top = max([peak_rss[0], *(mb for _, mb in samples)])
        print(f"  largest RSS: {top:,.0f} MB ({'within' if top <= 1024 else 'ABOVE'} the "
              "1 GiB target)")
        print(f"  growth over the second half: {slope:+.2f} MB/min")
        acknowledged = peak["ok"] + soak["ok"]
        _stop(proc, "the server")
        stored = _stored_events(data_dir)
        print(f"  acknowledged (wrk 2xx): {acknowledged:,}; stored after SIGTERM: {stored:,}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
