#!/usr/bin/env bash
# The benchmark suite: builds the release bootstraps and the floor they are
# measured against, bench-probe (and a second build of all three with
# AWS-LC's jitter entropy, AWS_LC_SYS_NO_JITTER_ENTROPY=0, to compare with
# the default set in .cargo/config.toml), runs the criterion
# micro-benchmarks, then lambda-bench (emulator + local HTTP server) against a
# fresh local PostgreSQL database and a throwaway TLS-only one, and writes
# BENCHMARKS.md: the generated table, then tools/bench/findings.md (the
# hand-written analysis: profiles, decisions, history).
#
#   bash scripts/bench.sh            # the full suite (~30 min here, mostly release builds)
#   bash scripts/bench.sh --smoke    # ~20 s of measuring with debug builds (CI)
#   bash scripts/bench.sh --assemble # BENCHMARKS.md again from the last run + findings.md
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--smoke" ]; then
  # The workspace's one debug build (scripts/build.sh; a no-op after the
  # tests): the bootstraps, bench-probe and lambda-bench itself. The same
  # build stands in for the comparison build, so that its paths (TLS
  # included) run too.
  bash scripts/build.sh -q
  debug="${CARGO_TARGET_DIR:-target}/debug"
  "$debug/lambda-bench" --bin-dir "$debug" --smoke \
    --compare-bin-dir "$debug" --compare-label "comparison path (smoke: the same debug build)"
  exit 0
fi

assemble() {
  {
    echo "# Benchmarks"
    echo
    echo "Produced by \`bash scripts/bench.sh\` on $(date -u -r target/bench-table.md +%Y-%m-%d) ($(nproc) cores, $(uname -m), $(rustc --version | cut -d' ' -f1-2), PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}' || echo local) on the same machine)."
    echo "Every figure below comes from that one command: lambda-bench (\`cargo run --release -p lambda-bench -- --bin-dir target/release ...\`) runs the release \`bootstrap\` binaries under the project's Runtime API emulator (\`tools/lambda-emulator\`) exactly as Lambda runs them, against a fresh local database; micro-benchmarks are criterion (\`cargo bench -p lambda-bench --bench micro\`)."
    echo
    echo "Each figure is set against the floor of this design, \`bench-probe\`: a Lambda built with the functions (lambda_http, tokio, the same pool and \`Config\`) that does one INSERT per POST and one SELECT per GET and nothing else; ratio = ours / floor (medians). Cold starts run from spawn to the first \`/upload/init\` answer (DB connect, INSERT and presign included), alternated with the probe's spawn to its first INSERT. The TLS rows use a throwaway PostgreSQL with \`ssl=on\` that accepts TCP only over TLS, its certificate for \`localhost\` signed by a test CA made at run time; the functions connect with \`sslmode=verify-full\` and trust that CA through the test-only \`DATABASE_EXTRA_ROOT_CERT\`. Medians on this $(nproc)-core machine; \`met?\` compares the median with the target."
    echo
    cat target/bench-table.md
    # What the numbers mean and what was decided from them: written by hand,
    # kept with the script so a run does not lose it.
    echo
    cat tools/bench/findings.md
  } > BENCHMARKS.md
  echo "wrote BENCHMARKS.md"
}

if [ "${1:-}" = "--assemble" ]; then
  # Only rebuilds BENCHMARKS.md from the last run's table
  # (target/bench-table.md) and tools/bench/findings.md: no measuring.
  assemble
  exit 0
fi

# One cargo call for the functions and the probe: bench-probe depends only
# on what upload-api does, with the same features, so the functions are
# built exactly as without it.
bins=(--bin upload-api --bin upload-events --bin bench-probe)
cargo build --release "${bins[@]}"
AWS_LC_SYS_NO_JITTER_ENTROPY=0 cargo build --release "${bins[@]}" --target-dir target/jitter
cargo bench -p lambda-bench --bench micro
cargo run --release -q -p lambda-bench -- --bin-dir target/release \
  --compare-bin-dir target/jitter/release --compare-label "built with AWS-LC's jitter entropy (AWS_LC_SYS_NO_JITTER_ENTROPY=0)" \
  --criterion-dir target/criterion --out target/bench-table.md

assemble
