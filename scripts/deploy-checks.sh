#!/usr/bin/env bash
# Deployment checks: lint the SAM template (cfn-lint, checkov), build both
# functions with cargo-lambda for arm64 (the template's default; with
# --all-arches x86_64 too), and check each bootstrap: right architecture, highest GLIBC symbol version
# <= 2.34 (Amazon Linux 2023), zipped size printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-tools.sh
PATH="$(bash scripts/install-tools.sh --print-path):$PATH"
export PATH

echo "== cfn-lint template.yaml"
cfn-lint template.yaml

echo "== checkov (skips are inline in template.yaml, each with its reason)"
checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

MAX_GLIBC="2.34"
check_binary() {
  local bin=$1 machine=$2
  local path="target/lambda/$bin/bootstrap"
  [ -f "$path" ] || { echo "missing $path"; exit 1; }
  local got
  got=$(readelf -h "$path" | awk -F: '/Machine/ {gsub(/^ +/, "", $2); print $2}')
  case "$got" in
    *"$machine"*) ;;
    *) echo "$path is '$got', expected $machine"; exit 1 ;;
  esac
  local glibc
  glibc=$(readelf -V "$path" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    echo "$path needs GLIBC_$glibc, above $MAX_GLIBC (Amazon Linux 2023)"
    exit 1
  fi
  local zip="target/lambda/$bin/bootstrap.zip"
  printf '%-14s %-8s glibc<=%s  bootstrap %8d bytes  zip %8d bytes\n' \
    "$bin" "$machine" "$glibc" "$(stat -c %s "$path")" "$(stat -c %s "$zip")"
}

# CI builds the architecture template.yaml deploys (arm64); each release
# cross-build of the workspace takes ~13 minutes on a 2-core runner.
# `--all-arches` also builds and checks x86_64.
ARCHES="arm64"
if [ "${1:-}" = "--all-arches" ]; then ARCHES="arm64 x86-64"; fi

for arch in $ARCHES; do
  echo "== cargo lambda build --release --$arch"
  rm -rf target/lambda/upload-api target/lambda/upload-events
  cargo lambda build --release "--$arch" --output-format zip -p upload-api -p upload-events
  # The zip holds only the bootstrap; unpack it to inspect the binary.
  for bin in upload-api upload-events; do
    (cd "target/lambda/$bin" && rm -f bootstrap && python3 -m zipfile -e bootstrap.zip .)
    if [ "$arch" = arm64 ]; then check_binary "$bin" AArch64; else check_binary "$bin" X86-64; fi
  done
done
