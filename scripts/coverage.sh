#!/usr/bin/env bash
# The test suite under coverage.py (pytest-cov: every xdist worker measured, then combined),
# then the total over src/liveinsight and the figure of each package the issue tracks.
# Arguments go to scripts/test.sh (so `--quick`, `-n 1` or test paths work). Code run by the
# processes the e2e tests start (`liveinsight serve`, workers) is not measured.
#   bash scripts/coverage.sh [--quick] [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import pytest_cov" 2>/dev/null; then
  touch pyproject.toml  # scripts/test.sh reinstalls the test extras
fi
rm -f .coverage .coverage.*
set +e
bash scripts/test.sh --cov=liveinsight --cov-report= "$@"
rc=$?
set -e
COV=".venv/bin/python -m coverage"
echo
echo "coverage of src/liveinsight:"
printf '  %-12s %s%%\n' "total" "$($COV report --format=total)"
for package in ingest storage query cache ops security; do
  printf '  %-12s %s%%\n' "$package/" \
    "$($COV report --format=total --include="src/liveinsight/$package/*")"
done
echo "(per file: .venv/bin/python -m coverage report -m)"
exit "$rc"
