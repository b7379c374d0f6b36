#!/usr/bin/env bash
# First run on a fresh machine: a virtualenv with LiveInsight, migrations, an admin user, a
# month of demo traffic, and the server on http://127.0.0.1:8000 with live demo visits.
#
#   scripts/quickstart.sh            # safe to re-run: keeps the admin and the demo data
#   scripts/quickstart.sh --reset    # regenerate the demo data
#
# Needs Python 3.11+ (set PYTHON=/path/to/python otherwise). Data lives in ./data (or
# $LIVEINSIGHT_DATA_DIR); another port: LIVEINSIGHT_PORT=8080. The admin's password is
# printed once and kept in <data dir>/admin-password.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

RESET=()
for arg in "$@"; do
  case "$arg" in
    --reset) RESET=(--reset) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "LiveInsight needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import liveinsight" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
  echo "==> installing LiveInsight into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
  touch .venv/.installed
fi
# Bytecode for the sources (an editable install has none, and with PYTHONDONTWRITEBYTECODE
# set every command would compile them again: ~0.3 s each); quick when nothing changed.
.venv/bin/python -m compileall -q src >/dev/null
LI=.venv/bin/liveinsight

DATA=${LIVEINSIGHT_DATA_DIR:-data}
export LIVEINSIGHT_DATA_DIR="$DATA"
export LIVEINSIGHT_HOST=${LIVEINSIGHT_HOST:-127.0.0.1}
export LIVEINSIGHT_PORT=${LIVEINSIGHT_PORT:-8000}
# The live demo visits come from this machine with X-Forwarded-For set to made-up public
# addresses (so they get countries and distinct visitors): believe it from loopback only.
export LIVEINSIGHT_TRUSTED_PROXIES=${LIVEINSIGHT_TRUSTED_PROXIES:-127.0.0.1/32,::1/128}
mkdir -p "$DATA"

echo "==> applying migrations"
"$LI" migrate

PASSWORD_FILE="$DATA/admin-password.txt"
if [ ! -s "$PASSWORD_FILE" ]; then
  PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  if "$LI" create-user admin@localhost --password "$PASSWORD" --role admin; then
    (umask 077 && printf '%s\n' "$PASSWORD" > "$PASSWORD_FILE")
    echo
    echo "    admin password (shown once, also saved in $PASSWORD_FILE): $PASSWORD"
    echo
  else
    echo "admin@localhost exists but $PASSWORD_FILE is gone; create another admin with" >&2
    echo "  $LI create-user you@example.com --role admin" >&2
  fi
fi

echo "==> demo data"
"$LI" demo ${RESET[@]+"${RESET[@]}"}

URL="http://$LIVEINSIGHT_HOST:$LIVEINSIGHT_PORT"
cat <<MSG

    LiveInsight: $URL
    log in as admin@localhost, password in $PASSWORD_FILE
    (Ctrl-C stops the server; live demo visits keep the realtime view moving)

MSG
exec "$LI" demo --serve --live
