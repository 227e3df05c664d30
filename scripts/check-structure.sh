#!/usr/bin/env bash
# Structure checks CI runs next to fmt and clippy:
#  * no Rust source file over 400 lines (functions over 60 lines are caught by
#    clippy's too_many_lines, threshold in clippy.toml);
#  * every crate lists only the dependencies it uses (cargo machete);
#  * the Lambdas link neither the test kit nor the migration tool.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

max=400
while IFS= read -r f; do
  n=$(wc -l < "$f")
  if [ "$n" -gt "$max" ]; then
    echo "structure: $f has $n lines (at most $max)"
    fail=1
  fi
done < <(git ls-files '*.rs')

if ! command -v cargo-machete >/dev/null 2>&1; then
  echo "installing cargo-machete"
  cargo install --quiet --locked cargo-machete@0.9.2
fi
if ! cargo machete; then
  echo "structure: cargo machete found unused dependencies"
  fail=1
fi

for fn in upload-api upload-events; do
  linked=$(cargo tree -q -e normal -p "$fn" --prefix none | awk '{print $1}' | sort -u)
  for forbidden in upload-testkit upload-migrate; do
    if grep -qx "$forbidden" <<<"$linked"; then
      echo "structure: $fn links $forbidden"
      fail=1
    fi
  done
done

[ "$fail" = 0 ] && echo "structure: ok (files <= $max lines, no unused dependencies, Lambdas link no test kit or migration tool)"
exit "$fail"
