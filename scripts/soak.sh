#!/usr/bin/env bash
# Fault soak (README, "Fault soak"): builds local-stack and fault-soak, then
# runs hundreds of uploads from 16 clients against a local-stack with its own
# throwaway PostgreSQL while the database's connections are killed, the
# database refuses connections, and notifications are lost, delayed and
# repeated. One summary line; exit status 1 on any violation.
# Arguments go to fault-soak (--seed N, --uploads N, --clients N, ...);
# SOAK_SEED overrides the fixed default seed too.
set -euo pipefail
cd "$(dirname "$0")/.."
# The workspace's one debug build (scripts/build.sh; a no-op after the
# tests), then the binary itself: a `cargo run -p fault-soak` would resolve
# features for it alone and rebuild.
bash scripts/build.sh -q
exec "${CARGO_TARGET_DIR:-target}/debug/fault-soak" "$@"
