#!/usr/bin/env bash
# Run the whole test suite: creates .venv and installs LiveInsight with its test extras when
# needed. Browser tests use Debian's chromium, the deployment tests nginx (both installed
# here when running as root with apt, with libfaketime for the clock-jump test).
# Tests run in parallel worker processes (pytest-xdist, one per core: chDB allows one engine
# per process, so each worker has its own), a module's tests on one worker (`--dist
# loadscope`: a module's server or browser fixture starts once, not once per worker).
# `--quick` leaves out the slow multi-process and browser tests (unit + integration).
# `--coverage` measures the run with coverage.py (pytest-cov; the xdist workers' data
# combined) and prints the total of src/liveinsight and the figure of each package
# CONTRIBUTING.md tracks; CI (.ci/run) runs with it. Code run by the processes the e2e tests
# start (`liveinsight serve`, workers) is not measured. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import liveinsight, pytest, playwright" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  # uv installs the ~150 packages in ~11 s where pip takes ~45 s (a clean checkout's CI run
  # pays it every time); pip when uv cannot be had or cannot reach the index. Bytecode
  # compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process the
  # tests start would compile the libraries it imports again (it slowed the e2e tests ~40 %).
  if .venv/bin/python -m pip install -q uv 2>/dev/null \
     && .venv/bin/python -m uv pip install -q --compile-bytecode --python .venv/bin/python \
        -e '.[test]'; then
    :
  else
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
  fi
  touch .venv/.installed
fi
NEED=()
[ -x /usr/bin/chromium ] || NEED+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || NEED+=(nginx-light)
# libfaketime: the clock-jump fault scenario (tests/e2e/test_faults.py)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || NEED+=(faketime)
if [ "${#NEED[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${NEED[@]}" >/dev/null) \
    || echo "note: could not install ${NEED[*]}; browser and nginx tests will be skipped"
fi
ARGS=()
WORKERS=(-n "${LIVEINSIGHT_TEST_WORKERS:-auto}" --dist loadscope)
COVERAGE=0
for arg in "$@"; do
  case "$arg" in
    --quick) ARGS+=(-m "not slow and not browser") ;;
    --coverage) COVERAGE=1 ; ARGS+=(--cov=liveinsight --cov-report=) ;;
    -n*|--numprocesses*) WORKERS=() ; ARGS+=("$arg") ;;
    *) ARGS+=("$arg") ;;
  esac
done
if [ "$COVERAGE" = 1 ]; then
  rm -f .coverage .coverage.*
fi
# Bytecode for the sources: the editable install has none, and where PYTHONDONTWRITEBYTECODE
# is set (as on the CI machine) each of the hundreds of Python processes the tests start
# (`liveinsight serve`, CLI commands, workers) compiled all ~210 modules again (~0.3 s each).
.venv/bin/python -m compileall -q src >/dev/null
began=$(date +%s)
set +e
.venv/bin/python -m pytest "${WORKERS[@]}" "${ARGS[@]}"
rc=$?
set -e
echo "tests took $(( $(date +%s) - began )) s"
if [ "$COVERAGE" = 1 ] && [ -f .coverage ]; then
  echo
  echo "coverage of src/liveinsight (lines run by the tests' own processes):"
  .venv/bin/python scripts/coverage_figures.py ingest storage query cache ops security
  echo "(per file: .venv/bin/python -m coverage report -m)"
fi
if [ "$rc" = 5 ]; then
  echo "no tests were collected"
  exit 0
fi
exit "$rc"
