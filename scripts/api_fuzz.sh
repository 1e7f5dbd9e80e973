#!/usr/bin/env bash
# The API fuzzer: schemathesis, driven by the served OpenAPI schema, against a live server of the
# app on a throwaway SQLite database seeded with the demo, signed in as `admin` with an API token.
# Every operation, every phase (examples, coverage, fuzzing, stateful); a 5xx answer, or an answer
# the schema does not describe (status, content type, body), fails the run (exit status non-zero).
# The signed webhook receiver is left out: its requests need a valid signature, which the fuzzer
# cannot make (tests/releases cover it with signed requests).
#
#   scripts/api_fuzz.sh                      # what CI runs (.ci/run)
#   MAX_TIME=600 MAX_EXAMPLES=100 scripts/api_fuzz.sh   # a longer run
#   VENV=/path/to/venv scripts/api_fuzz.sh   # another virtualenv than .venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="$VENV/bin/python"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
MAX_TIME="${MAX_TIME:-180}"  # seconds of fuzzing, the whole run's bound
SEED="${SEED:-}"

work=$(mktemp -d /tmp/releasemgmt-fuzz.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh database and broker folder of its own; never the developer's var/ or a DATABASE_URL.
unset DATABASE_URL REDIS_URL
export RELEASEMGMT_VAR_DIR="$work/var" DJANGO_SETTINGS_MODULE=releasemgmt.settings.base
# Only errors in the server's log: a 5xx answer's traceback (the 4xx answers are the point).
export DJANGO_LOG_LEVEL="${DJANGO_LOG_LEVEL:-ERROR}"
# The fuzzer sends thousands of requests a minute as one user: the rate limit (documented as 429)
# would answer most of them, and test nothing else.
export API_THROTTLE_USER="${API_THROTTLE_USER:-10000000/min}" API_THROTTLE_ANON="${API_THROTTLE_ANON:-10000000/min}"

echo "Seeding the demo into $RELEASEMGMT_VAR_DIR"
"$PYTHON" manage.py migrate --no-input -v 0
"$PYTHON" manage.py seed_demo >"$work/seed.log"
token=$("$PYTHON" manage.py issue_token admin --name "API fuzzing" --expires-days 1 | tail -n 1)

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# No request-line limit: gunicorn's own (4 KB, a 414) is the HTTP server's, not the API's, and
# the fuzzer sends long query strings on purpose.
"$VENV/bin/gunicorn" releasemgmt.wsgi:application --bind "127.0.0.1:$port" --workers 1 \
  --timeout 120 --limit-request-line 0 --log-level error >"$work/server.log" 2>&1 &
server_pid=$!
# Up when /healthz answers at all (503 is expected: no Celery worker runs here).
"$PYTHON" - "$base/healthz" <<'PY' || { cat "$work/server.log"; exit 1; }
import sys, time, urllib.error, urllib.request

for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("The server did not start.")
PY

echo "Fuzzing $base/api/schema/ ($MAX_EXAMPLES examples an operation, at most $MAX_TIME s)"
status=0
"$VENV/bin/schemathesis" run "$base/api/schema/" \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path-regex '^/api/v1/webhooks/' \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" ${SEED:+--seed "$SEED"} \
  --workers 1 --request-timeout 60 --no-color \
  || status=$?
if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
  echo "--- the server's log (tracebacks of 5xx answers) ---"
  tail -n 200 "$work/server.log"
fi
exit "$status"
