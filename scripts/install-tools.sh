#!/usr/bin/env bash
# Installs the tools the deployment checks and the end-to-end tests need:
# cargo-lambda, ziglang (cross-linking), cfn-lint and checkov from PyPI into a
# dedicated virtualenv (they pin botocore versions that would fight other
# Python tools), and, with --browser, Debian's chromium. Idempotent.
#
# Prints nothing but progress; afterwards put "$(scripts/install-tools.sh --print-path)"
# first on PATH.
set -euo pipefail

VENV="${UPLOAD_JOBS_TOOLS:-$HOME/.local/share/upload-jobs/tools}"
if [ "${1:-}" = "--print-path" ]; then
  echo "$VENV/bin"
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
