#!/usr/bin/env bash
# Builds every debug binary and test of the workspace in ONE cargo call, so
# all of them share one feature resolution: `cargo test --workspace`, the
# fuzz run, the soak and the benchmark smoke then reuse these artefacts
# instead of rebuilding the dependency graph with another feature set (a
# `cargo build -p local-stack` alone would). Up to date: a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --tests --locked "$@"
