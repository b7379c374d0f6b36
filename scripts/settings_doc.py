"""Rewrite the settings table of docs/settings.md from liveinsight.settings (run after adding
or changing a setting: `.venv/bin/python scripts/settings_doc.py`; a test fails until then)."""

from __future__ import annotations

from pathlib import Path

from liveinsight.settings import settings_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def main() -> None:
    lines = DOCS.read_text().split("\n")
    start = lines.index(settings_table().split("\n")[0])
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    DOCS.write_text("\n".join([*lines[:start], settings_table(), *lines[end:]]))


if __name__ == "__main__":
    main()
