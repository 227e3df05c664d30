#!/usr/bin/env bash
# The whole test suite: installs what the browser test needs (Debian's
# chromium, playwright-core from npm) if missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh --browser
# Binaries and tests in one build (see scripts/build.sh), then the tests.
bash scripts/build.sh
cargo test --workspace --locked
