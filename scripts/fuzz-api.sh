#!/usr/bin/env bash
# Fuzzes the HTTP API against the document that describes it: schemathesis
# (pinned in scripts/install-tools.sh --fuzz) generates requests from
# openapi.yaml and sends them to a local stack started for the run on free
# ports, with its own data directory and its own throwaway PostgreSQL (or
# FUZZ_DATABASE_URL, a database it may migrate and fill), identified with the
# development headers the local stack accepts.
#
# Bounded: schemathesis stops after FUZZ_MAX_TIME seconds (default 100) or
# FUZZ_MAX_EXAMPLES cases per operation and phase (default 200), whichever
# comes first, and is killed if it is still running FUZZ_HARD_LIMIT seconds
# (default 300) after it started. Reads no standard input. Exits non-zero on
# any failure (a server error, an undocumented status code, content type or
# header, a body that does not match its schema) or when the stack does not
# start; always stops the stack. The stack's log and the JUnit report are
# left in target/fuzz-api/.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_TIME="${FUZZ_MAX_TIME:-100}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-200}"
HARD_LIMIT="${FUZZ_HARD_LIMIT:-300}"
# One worker: with several, the coverage phase parses Python source in parallel
# threads, which CPython 3.11 can fail ("AST constructor recursion depth
# mismatch", a schemathesis error, not a finding).
# The tenant of the document's examples (and of the README's curl session).
TENANT="00000000-0000-4000-8000-000000000001"
OUT="target/fuzz-api"

bash scripts/install-tools.sh --fuzz
SCHEMATHESIS="$(bash scripts/install-tools.sh --print-fuzz-path)/schemathesis"

echo "== the workspace's debug build (scripts/build.sh; a no-op after the tests)"
bash scripts/build.sh --quiet

rm -rf "$OUT"
mkdir -p "$OUT"
data_dir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-api-stack.XXXXXX")
# As root, the stack runs PostgreSQL as the postgres user, who must reach it.
chmod 755 "$data_dir"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
api_port=$(free_port)
s3_port=$(free_port)

stack_pid=""
stop_stack() {
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$stack_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap stop_stack EXIT

echo "== local-stack on 127.0.0.1:$api_port (S3 127.0.0.1:$s3_port, data $data_dir)"
(
  if [ -n "${FUZZ_DATABASE_URL:-}" ]; then
    export DATABASE_URL="$FUZZ_DATABASE_URL"
  else
    unset DATABASE_URL
  fi
  exec "${CARGO_TARGET_DIR:-target}/debug/local-stack" --api-addr "127.0.0.1:$api_port" --s3-addr "127.0.0.1:$s3_port" \
    --data-dir "$data_dir" --reaper-interval-secs 5
) </dev/null >"$OUT/stack.out" 2>"$OUT/stack.log" &
stack_pid=$!

ready=""
for _ in $(seq 1 900); do
  ready=$(grep -m1 '^local-stack ready ' "$OUT/stack.out" || true)
  [ -n "$ready" ] && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "local-stack exited before it was ready:"
    tail -n 20 "$OUT/stack.log"
    exit 1
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "local-stack not ready after 90 s:"
  tail -n 20 "$OUT/stack.log"
  exit 1
fi
echo "$ready"

echo "== schemathesis $("$SCHEMATHESIS" --version | awk '{print $NF}') (at most ${MAX_TIME}s, ${MAX_EXAMPLES} examples per operation)"
started=$(date +%s)
status=0
timeout --kill-after=10 "$HARD_LIMIT" "$SCHEMATHESIS" run openapi.yaml --no-color \
  --url "http://127.0.0.1:$api_port" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-time "$MAX_TIME" \
  --max-examples "$MAX_EXAMPLES" \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --generation-with-security-parameters false \
  --report junit --report-junit-path "$OUT/junit.xml" \
  -H "X-Tenant-ID: $TENANT" \
  -H "X-User-ID: fuzz" \
  </dev/null || status=$?
echo "== schemathesis exited $status after $(($(date +%s) - started)) s"
if [ "$status" -ne 0 ]; then
  echo "the stack's log: $OUT/stack.log"
fi
exit "$status"
