"""Generated imports for the tests: a Plausible export zip with known totals, GA4 reports."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from pathlib import Path

FIRST = date(2024, 1, 1)
DAYS = 3


def _csv(header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        text = str(v)
        return f'"{text}"' if isinstance(v, str) and not text[:1].isdigit() else text
    return ",".join(header) + "\n" + "".join(",".join(cell(v) for v in r) + "\n" for r in rows)


def plausible_files(first: date = FIRST, days: int = DAYS) -> dict[str, str]:
    """Day i (0-based) has 10+i visitors in 20+i visits (bounces 5, 600 s, 40+i pageviews),
    from Google (visitors 6, visits 12+i) and Direct (4+i visitors, 8 visits), on / (7) and
    /pricing (3+i), in DE (6) and US (4+i), on Desktop (6) and Mobile (4+i), Chrome and
    Firefox, Mac and Windows; 2 visitors sent 3 Signup events each day."""
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    last = first + timedelta(days=days - 1)
    suffix = f"_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    v = ["visitors", "visits", "visit_duration", "bounces", "pageviews"]

    def split(dim: str, a: str, b: str, extra: list[str] | None = None) -> str:
        extra = extra or []
        rows: list[list[object]] = []
        for i, d in enumerate(dates):
            rows.append([d, a, *["" for _ in extra], 6, 12 + i, 300, 3, 20])
            rows.append([d, b, *["" for _ in extra], 4 + i, 8, 300, 2, 20 + i])
        return _csv(["date", dim, *extra, *v], rows)

    return {
        "imported_visitors" + suffix: _csv(
            ["date", "visitors", "pageviews", "bounces", "visits", "visit_duration"],
            [[d, 10 + i, 40 + i, 5, 20 + i, 600] for i, d in enumerate(dates)]),
        "imported_sources" + suffix: _csv(
            ["date", "source", "referrer", "utm_source", "utm_medium", "utm_campaign",
             "utm_content", "utm_term", "pageviews", "visitors", "visits", "visit_duration",
             "bounces"],
            [r for i, d in enumerate(dates) for r in (
                [d, "Google", "", "", "", "", "", "", 20, 6, 12 + i, 300, 3],
                [d, "", "", "", "", "", "", "", 20 + i, 4 + i, 8, 300, 2])]),
        "imported_pages" + suffix: _csv(
            ["date", "hostname", "page", "visits", "visitors", "pageviews",
             "total_scroll_depth", "total_scroll_depth_visits"],
            [r for i, d in enumerate(dates) for r in (
                [d, "example.com", "/", 14, 7, 25, 0, 0],
                [d, "example.com", "/pricing", 6 + i, 3 + i, 15 + i, 0, 0])]),
        "imported_entry_pages" + suffix: _csv(
            ["date", "entry_page", "visitors", "entrances", "visit_duration", "bounces",
             "pageviews"],
            [r for i, d in enumerate(dates) for r in (
                [d, "/", 7, 14, 400, 4, 25], [d, "/pricing", 3 + i, 6 + i, 200, 1, 15 + i])]),
        "imported_exit_pages" + suffix: _csv(
            ["date", "exit_page", "visitors", "visit_duration", "exits", "bounces",
             "pageviews"],
            [r for i, d in enumerate(dates) for r in (
                [d, "/", 7, 400, 14, 4, 25], [d, "/pricing", 3 + i, 200, 6 + i, 1, 15 + i])]),
        "imported_custom_events" + suffix: _csv(
            ["date", "name", "link_url", "path", "visitors", "events"],
            [[d, "Signup", "", "", 2, 3] for d in dates]),
        "imported_locations" + suffix: _csv(
            ["date", "country", "region", "city", *v],
            [r for i, d in enumerate(dates) for r in (
                [d, "DE", "DE-BE", 2950159, 6, 12 + i, 300, 3, 20],
                [d, "US", "", 0, 4 + i, 8, 300, 2, 20 + i])]),
        "imported_devices" + suffix: split("device", "Desktop", "Mobile"),
        "imported_browsers" + suffix: split("browser", "Chrome", "Firefox", ["browser_version"]),
        "imported_operating_systems" + suffix: split("operating_system", "Mac", "Windows",
                                                     ["operating_system_version"]),
    }


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return out.getvalue()


def plausible_zip(path: Path, first: date = FIRST, days: int = DAYS) -> Path:
    path.write_bytes(zipped(plausible_files(first, days)))
    return path


# Totals of plausible_files() over its 3 days.
TOTALS = {"visitors": 33, "visits": 63, "pageviews": 123, "bounces": 15,
          "visit_duration": 1800}
