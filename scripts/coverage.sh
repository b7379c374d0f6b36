#!/usr/bin/env bash
# The test suite under coverage.py: `scripts/test.sh --coverage` (see there). Arguments go
# to scripts/test.sh (so `--quick`, `-n 1` or test paths work).
#   bash scripts/coverage.sh [--quick] [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/test.sh --coverage "$@"
