#!/usr/bin/env bash
# Runs the README's "Trying payloads" block (the ```sh block under
# "### Trying payloads" in README.md) as written, and checks every answer.
# The commands are read from the README, not copied, with three changes so
# the run disturbs nothing on the machine:
#  * `cargo run --bin local-stack` gets `-- --api-addr 127.0.0.1:0
#    --s3-addr 127.0.0.1:0 --data-dir <temporary directory>` and no
#    DATABASE_URL (its own throwaway PostgreSQL);
#  * in the `cargo lambda` commands, `.local-stack/` is that directory and
#    the `--invoke-port` a free port;
#  * `sam ...` lines are skipped (Docker).
# Any other command in the block, or an invoke this script has no check for,
# fails the run: the README and this script cannot drift apart silently.
#
# Needs cargo-lambda (scripts/install-tools.sh). Bounds, in seconds:
# STACK_TIMEOUT (local-stack ready, `cargo run` may build; default 900),
# INVOKE_TIMEOUT (each invoke; the first of each function waits for
# cargo-lambda's build; default 1200). Prints each step's duration; logs are
# kept in target/check-lambda-watch/. Exit 0: every check passed; 1: a check
# failed; 2: could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_TIMEOUT=${STACK_TIMEOUT:-900}
INVOKE_TIMEOUT=${INVOKE_TIMEOUT:-1200}
OUT=${CARGO_TARGET_DIR:-target}/check-lambda-watch
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.log "$OUT"/*.out

PATH="$(bash scripts/install-tools.sh --print-path):$PATH"
export PATH
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "check-lambda-watch: cargo-lambda not found; run bash scripts/install-tools.sh" >&2
  exit 2
fi

block=$(awk '/^### Trying payloads/ { s = 1; next }
             s && /^```sh/ { f = 1; next }
             f && /^```/ { exit }
             f' README.md)
if [ -z "$block" ]; then
  echo "check-lambda-watch: no \`\`\`sh block under \"### Trying payloads\" in README.md" >&2
  exit 2
fi

data=$(mktemp -d /tmp/check-lambda-watch.XXXXXX)
chmod 755 "$data"   # PostgreSQL runs as the postgres user when we are root
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stack_pid="" watch_pid=""

stop() {
  local rc=$?
  # local-stack stops its PostgreSQL on SIGTERM; cargo-lambda's function
  # processes are in its process group.
  if [ -n "$watch_pid" ]; then kill -TERM -- "-$watch_pid" 2>/dev/null || true; fi
  if [ -n "$stack_pid" ]; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$stack_pid" 2>/dev/null || true
  fi
  if [ -n "$watch_pid" ]; then
    sleep 1
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
  exit "$rc"
}
trap stop EXIT

fail() {
  echo "check-lambda-watch: FAIL: $*" >&2
  for f in "$OUT"/*.log; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# One invoke's answer, checked with a Python expression over `r` (the
# answer) and, for the API, `b` (its JSON body).
check() {
  local file=$1 expr=$2
  python3 - "$file" "$expr" <<'PY' || fail "$(basename "$1"): expected $2; got $(cat "$1")"
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):])
b = json.loads(r["body"]) if isinstance(r.get("body"), str) else None
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

start_stack() {
  local t0
  t0=$(now)
  # setsid: its own process group, stopped as one.
  env -u DATABASE_URL setsid "$@" -- --api-addr 127.0.0.1:0 --s3-addr 127.0.0.1:0 \
    --data-dir "$data" </dev/null >"$OUT/stack.log" 2>"$OUT/stack-stderr.log" &
  stack_pid=$!
  for _ in $(seq 1 $((STACK_TIMEOUT * 10))); do
    grep -q '^local-stack ready ' "$OUT/stack.log" && break
    kill -0 "$stack_pid" 2>/dev/null || fail "local-stack exited before it was ready"
    sleep 0.1
  done
  grep -q '^local-stack ready ' "$OUT/stack.log" || fail "local-stack not ready after ${STACK_TIMEOUT} s"
  [ -s "$data/lambda.env" ] || fail "local-stack wrote no lambda.env"
  echo "== $* ready ($(took "$t0")): $(grep -m1 '^local-stack ready ' "$OUT/stack.log")"
}

start_watch() {
  setsid "$@" </dev/null >"$OUT/watch.log" 2>&1 &
  watch_pid=$!
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$watch_pid" 2>/dev/null || fail "cargo lambda watch exited"
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "cargo lambda watch not listening on $port after 60 s"
  echo "== $* listening"
}

invoke() {
  local n=$1 t0 file
  shift
  t0=$(now)
  file="$OUT/invoke-$n.out"
  timeout "$INVOKE_TIMEOUT" "$@" >"$file" 2>"$OUT/invoke-$n.log" ||
    fail "$* failed or timed out ($(took "$t0")): $(cat "$file" "$OUT/invoke-$n.log")"
  case "${*: -1}" in
    events/local/apigw-init.json)
      check "$file" 'r["statusCode"] == 201 and b["job_id"] == "b7cc4808-ba1f-5421-a1d2-7f191693bf88" and b["status"] == "queued"' ;;
    events/local/s3-put.json)
      check "$file" 'r["processed"] == 1 and r["handed_off"] == 1' ;;
    events/local/apigw-status.json)
      check "$file" 'r["statusCode"] == 200 and b["status"] == "processing"' ;;
    *) fail "no check for the README's invoke of ${*: -1}" ;;
  esac
  echo "== $* ok ($(took "$t0")): $(head -c 200 "$file" | tr -d '\n')"
}

# `cargo run --bin ...` (the README's local-stack, and cargo-lambda's builds)
# resolves features without the dev-dependencies; scripts/build.sh with them.
# Dependencies whose features differ are built a second time (with all that
# depends on them) on the first run after scripts/build.sh.
features() {
  cargo tree --workspace -e "$1" -f '{p} [{f}]' --prefix none 2>/dev/null |
    sed 's/ (\*)//; s/ (proc-macro)//' | grep -v ' (/' | sort -u
}
drift=$(comm -23 <(features normal,build) <(features normal,build,dev) | sed 's/ .*//' | tr '\n' ' ')
if [ -n "$drift" ]; then
  echo "== note: other features under cargo run than under scripts/build.sh: $drift(rebuilt once, with their dependents)"
fi

t_all=$(now)
n=0
while IFS= read -r line; do
  line=$(sed -E 's/[[:space:]]+#.*$//' <<<"$line")
  [ -n "$line" ] || continue
  read -ra words <<<"$line"
  for i in "${!words[@]}"; do
    case "${words[$i]}" in .local-stack/*) words[i]="$data/${words[$i]#.local-stack/}" ;; esac
    if [ "$i" -gt 0 ] && [ "${words[$((i - 1))]}" = "--invoke-port" ]; then words[i]=$port; fi
  done
  case "${words[*]:0:3}" in
    "cargo run --bin") start_stack "${words[@]}" ;;
    "cargo lambda watch") start_watch "${words[@]}" ;;
    "cargo lambda invoke") n=$((n + 1)); invoke "$n" "${words[@]}" ;;
    sam*) echo "== skipped (Docker): $line" ;;
    *) fail "no rule for the README's command: $line" ;;
  esac
done <<<"$block"

[ "$n" -gt 0 ] || fail "the README's block has no cargo lambda invoke"
grep -q 'b7cc4808-ba1f-5421-a1d2-7f191693bf88' "$data/handoff.jsonl" 2>/dev/null ||
  fail "the events function's hand-off did not reach the local EventBridge ($data/handoff.jsonl)"
echo "check-lambda-watch: PASS ($n invokes, $(took "$t_all") in all)"
