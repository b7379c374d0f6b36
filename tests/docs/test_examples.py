"""The documentation's examples run: every fenced block whose info string is ``sh example``,
``python example`` or ``js example`` in ``README.md`` and ``docs/*.md`` is run, in file
order, against a real ``liveinsight serve`` on loopback.

What an example can count on (its environment):

- ``LIVEINSIGHT_URL``: the server's base URL (no trailing slash);
- ``LIVEINSIGHT_API_KEY``: an API key with the ingest, stats and admin scopes for every site;
- ``LIVEINSIGHT_SITE``: ``example.com``, a site holding events of the last 24 hours;
- ``liveinsight`` on ``PATH``, with the server's settings (``LIVEINSIGHT_DATA_DIR`` ...);
- a scratch working directory shared by the blocks of one file.

``sh`` blocks run with ``bash -euo pipefail`` (``curl -fsS`` makes an HTTP error fail the
example), ``python`` blocks with this interpreter, ``js`` blocks with ``node`` as ES modules
(top-level ``await``). A block must exit 0. Blocks without the word ``example`` are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SITE = "example.com"
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>sh|bash|python|js|javascript)"
                    r"\s+example\b.*$")
_RUNNERS = {"sh": ["bash", "-euo", "pipefail", "-c"], "bash": ["bash", "-euo", "pipefail", "-c"],
            "python": [sys.executable, "-c"], "js": ["node", "--input-type=module", "-e"],
            "javascript": ["node", "--input-type=module", "-e"]}


@dataclass(frozen=True, slots=True)
class Example:
    path: Path
    line: int
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples_in(path: Path) -> list[Example]:
    """The runnable blocks of one Markdown file, in order."""
    out: list[Example] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i].strip())
        if not opened:
            i += 1
            continue
        fence, start, body = opened.group("fence"), i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        out.append(Example(path, start, opened.group("lang"), "\n".join(body) + "\n"))
        i += 1
    return out


DOCS = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        if examples_in(p)]


def test_the_fence_parser_finds_blocks_in_order(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text("```sh example\necho one\n```\n\n```sh\nnot run\n```\n"
                   "````python example\nprint('```')\n````\n")
    found = examples_in(doc)
    assert [(e.lang, e.code, e.line) for e in found] == [
        ("sh", "echo one\n", 1), ("python", "print('```')\n", 8)]


def test_every_code_fence_of_the_docs_is_closed() -> None:
    """An unclosed fence (a merge gone wrong) would swallow the text after it."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fences = [line for line in path.read_text().splitlines()
                  if line.startswith(("```", "~~~"))]
        assert len(fences) % 2 == 0, f"{path.name} has an unclosed code fence"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("docs-examples")
    srv = Server(home / "data")
    srv.cli("create-site", SITE, "--timezone", "UTC")
    key = srv.cli("create-api-key", "docs", "--scope", "ingest", "--scope", "stats",
                  "--scope", "admin").strip().splitlines()[-1]
    srv.start()
    try:
        _seed(srv.url, key)
        env = {k: v for k, v in srv.env.items() if k != "LIVEINSIGHT_PORT"}
        env.update(LIVEINSIGHT_URL=srv.url, LIVEINSIGHT_API_KEY=key, LIVEINSIGHT_SITE=SITE,
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        yield env
    finally:
        srv.stop()


def _seed(url: str, key: str) -> None:
    """A day of pageviews and a few custom events for example.com, then wait until the
    stats see them."""
    now = datetime.now(UTC)
    pages = ["/", "/pricing", "/blog/one", "/blog/two", "/docs"]
    events = []
    for i in range(60):
        at = now - timedelta(hours=23) + timedelta(minutes=23 * i)
        events.append({"page_url": f"https://{SITE}{pages[i % len(pages)]}", "domain": SITE,
                       "timestamp": at.isoformat().replace("+00:00", "Z"),
                       "referrer": "https://news.ycombinator.com/" if i % 3 == 0 else "",
                       "ip": f"198.51.100.{i % 20}", "user_agent": "Mozilla/5.0 (X11; Linux "
                       "x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"})
    events += [{"event_type": "Signup", "page_url": f"https://{SITE}/pricing", "domain": SITE,
                "props": {"plan": "pro"}, "ip": "198.51.100.1",
                "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1"}]
    auth = {"authorization": f"Bearer {key}"}
    answer = httpx.post(f"{url}/api/events", json=events, headers=auth, timeout=30)
    assert answer.status_code == 202, answer.text
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while datetime.now(UTC) < deadline:
        stats = httpx.get(f"{url}/api/stats/aggregate", params={
            "site_id": SITE, "period": "7d", "metrics": "pageviews"}, headers=auth, timeout=30)
        if stats.status_code == 200 and stats.json()["results"]["pageviews"]["value"] >= 60:
            return
        time.sleep(0.2)
    raise AssertionError(f"the seeded events did not reach the stats: {stats.text}")


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_examples_of_a_document_run(doc: Path, server: dict[str, str],
                                    tmp_path: Path) -> None:
    if any(e.lang in ("js", "javascript") for e in examples_in(doc)) and not shutil.which(
            "node"):
        pytest.skip("node is not installed")
    for example in examples_in(doc):
        done = subprocess.run([*_RUNNERS[example.lang], example.code], cwd=tmp_path,
                              env=server, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, (
            f"the example at {example.where} exited with {done.returncode}:\n{example.code}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


MAIN_ENDPOINTS = ("### `POST /api/events` (native)", "### Authentication",
                  "### `POST /api/v2/query` — Plausible Stats API v2",
                  "### Comparisons", "### Raw event export")  # Comparisons: the breakdown


def test_the_main_endpoints_have_examples_in_python_and_javascript() -> None:
    """The API guide's main sections (auth, events, stats queries, export) each show the
    call in Python and JavaScript beside curl; the test above runs them."""
    text = (ROOT / "docs" / "api.md").read_text()
    sections = re.split(r"(?m)^(?=#{2,3} )", text)
    for heading in MAIN_ENDPOINTS:
        [section] = [s for s in sections if s.startswith(heading + "\n")]
        for fence in ("```python example", "```js example"):
            assert fence in section, f"{heading}: no {fence}"
        assert "curl" in section, f"{heading}: no curl"
