"""Print the coverage figures CONTRIBUTING.md tracks from the combined ``.coverage`` data:
the total of src/liveinsight and each package's, as ``coverage report --format=total
[--include=src/liveinsight/<package>/*]`` gives them, from one analysis of the files (each of
those commands analysed every file again: ~1.4 s each, 10 s of every CI run).

    .venv/bin/python scripts/coverage_figures.py ingest storage query cache ops security
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import coverage
from coverage.results import display_covered


def figures(packages: list[str]) -> list[tuple[str, str]]:
    cov = coverage.Coverage()
    cov.load()
    precision = int(cov.config.precision)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(report))
        files = json.loads(report.read_text())["files"]
    rows = [("total", None), *((f"{p}/", f"src/liveinsight/{p}/") for p in packages)]
    out = []
    for label, prefix in rows:
        chosen = [f["summary"] for name, f in files.items()
                  if prefix is None or name.startswith(prefix)]
        statements = sum(s["num_statements"] for s in chosen)
        covered = sum(s["covered_lines"] for s in chosen)
        out.append((label, display_covered(100.0 * covered / statements, precision) + "%"
                     if statements else "no data"))
    return out


if __name__ == "__main__":
    for label, figure in figures(sys.argv[1:]):
        print(f"  {label:<12} {figure}")
