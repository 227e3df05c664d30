#!/usr/bin/env bash
# The benchmark suite: builds the release bootstraps (and a second build with
# AWS_LC_SYS_NO_JITTER_ENTROPY=1 for comparison), runs the criterion
# micro-benchmarks, then lambda-bench (emulator + local HTTP server) against a
# fresh local PostgreSQL database, and writes BENCHMARKS.md.
#
#   bash scripts/bench.sh            # the full suite (~30 min here, mostly release builds)
#   bash scripts/bench.sh --smoke    # ~10 s of measuring with debug builds (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--smoke" ]; then
  # The workspace's one debug build (scripts/build.sh; a no-op after the
  # tests): the bootstraps and lambda-bench itself.
  bash scripts/build.sh -q
  "${CARGO_TARGET_DIR:-target}/debug/lambda-bench" --bin-dir "${CARGO_TARGET_DIR:-target}/debug" --smoke
  exit 0
fi

cargo build --release --bin upload-api --bin upload-events
AWS_LC_SYS_NO_JITTER_ENTROPY=1 cargo build --release --bin upload-api --bin upload-events --target-dir target/nojitter
cargo bench -p lambda-bench --bench micro
cargo run --release -q -p lambda-bench -- --bin-dir target/release \
  --compare-bin-dir target/nojitter/release --compare-label "built with AWS_LC_SYS_NO_JITTER_ENTROPY=1" \
  --criterion-dir target/criterion --out target/bench-table.md

{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bash scripts/bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -m), $(rustc --version | cut -d' ' -f1-2), PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}' || echo local) on the same machine)."
  echo "Every figure below comes from that one command: lambda-bench (\`cargo run --release -p lambda-bench -- --bin-dir target/release ...\`) runs the release \`bootstrap\` binaries under the project's Runtime API emulator (\`tools/lambda-emulator\`) exactly as Lambda runs them, against a fresh local database; micro-benchmarks are criterion (\`cargo bench -p lambda-bench --bench micro\`)."
  echo
  cat target/bench-table.md
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
