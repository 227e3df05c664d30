#!/usr/bin/env bash
# Installs the tools the deployment checks and the end-to-end tests need:
# cargo-lambda, ziglang (cross-linking), cfn-lint and checkov from PyPI into a
# dedicated virtualenv (they pin botocore versions that would fight other
# Python tools), and, with --browser, Debian's chromium. Idempotent.
#
# Prints nothing but progress; afterwards put "$(scripts/install-tools.sh --print-path)"
# first on PATH.
#
# --fuzz installs only the API fuzzer (scripts/fuzz-api.sh): schemathesis, at
# the version pinned below, in a virtualenv of its own (its dependencies
# would fight checkov's); "$(scripts/install-tools.sh --print-fuzz-path)" is
# its bin directory.
set -euo pipefail

VENV="${UPLOAD_JOBS_TOOLS:-$HOME/.local/share/upload-jobs/tools}"
FUZZ_VENV="${UPLOAD_JOBS_FUZZ_TOOLS:-$HOME/.local/share/upload-jobs/fuzz}"
SCHEMATHESIS_VERSION="4.32.5"
if [ "${1:-}" = "--print-path" ]; then
  echo "$VENV/bin"
  exit 0
fi
if [ "${1:-}" = "--print-fuzz-path" ]; then
  echo "$FUZZ_VENV/bin"
  exit 0
fi
if [ "${1:-}" = "--fuzz" ]; then
  if [ ! -x "$FUZZ_VENV/bin/python3" ]; then
    echo "creating fuzzing virtualenv in $FUZZ_VENV"
    python3 -m venv "$FUZZ_VENV"
  fi
  have=$("$FUZZ_VENV/bin/python3" -m pip show schemathesis 2>/dev/null | sed -n 's/^Version: //p' || true)
  if [ "$have" != "$SCHEMATHESIS_VERSION" ]; then
    echo "installing from PyPI: schemathesis==$SCHEMATHESIS_VERSION"
    "$FUZZ_VENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
      "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  exit 0
fi

if [ ! -x "$VENV/bin/python3" ]; then
  echo "creating tools virtualenv in $VENV"
  python3 -m venv "$VENV"
fi
want=(cargo-lambda ziglang cfn-lint checkov)
missing=()
for pkg in "${want[@]}"; do
  "$VENV/bin/python3" -m pip show --quiet "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing from PyPI: ${missing[*]}"
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

for arg in "$@"; do
  if [ "$arg" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
done
