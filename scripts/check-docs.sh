#!/usr/bin/env bash
# Documentation checks.
#
# 1. Every relative Markdown link in README.md and docs/**/*.md -- [text](path),
#    [text](path#anchor), ![alt](path) and reference definitions [ref]: path --
#    must point at a file or directory that exists inside the repository.
#    Skipped: http(s):, mailto: and other scheme links, pure #anchor links, and
#    anything inside fenced code blocks or `code spans`. Anchors are not checked.
# 2. No file in the repository (tracked, or untracked and not ignored) other
#    than this script may name the team's documents outside the repository:
#    the strings listed in FORBIDDEN below. The repository stands on its own.
#
# Prints one line per problem and exits 1; on success prints
# "docs: N links checked, all resolve".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
self="scripts/check-docs.sh"

problems=0
problem() {
  printf '%s\n' "$1"
  problems=$((problems + 1))
}

# --- 1. links ------------------------------------------------------------------

md_files=()
[ -f README.md ] && md_files+=(README.md)
if [ -d docs ]; then
  while IFS= read -r -d '' f; do
    md_files+=("${f#./}")
  done < <(find docs -type f -name '*.md' -print0 | sort -z)
fi

# Prints "LINE<TAB>TARGET" for every link target in a Markdown file.
extract_links() {
  awk '
    /^[ \t]*(```|~~~)/ { fence = !fence; next }
    fence { next }
    {
      line = $0
      # Drop code spans: `...` (a link inside code is an example, not a link).
      while (match(line, /`[^`]*`/)) {
        line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
      }
      # Reference definitions: [ref]: target
      if (match(line, /^[ \t]*\[[^]]+\]:[ \t]*[^ \t]+/)) {
        def = substr(line, RSTART, RLENGTH)
        sub(/^[ \t]*\[[^]]+\]:[ \t]*/, "", def)
        print NR "\t" def
        next
      }
      # Inline links and images: [text](target) / [text](target "title")
      while (match(line, /\]\([^)]*\)/)) {
        target = substr(line, RSTART + 2, RLENGTH - 3)
        line = substr(line, RSTART + RLENGTH)
        sub(/^[ \t]+/, "", target)
        sub(/[ \t]+"[^"]*"[ \t]*$/, "", target)
        sub(/[ \t]+$/, "", target)
        if (target ~ /^<.*>$/) target = substr(target, 2, length(target) - 2)
        print NR "\t" target
      }
    }
  ' "$1"
}

links=0
for md in "${md_files[@]}"; do
  dir=$(dirname "$md")
  while IFS=$'\t' read -r line target; do
    [ -n "$target" ] || continue
    [[ "$target" == \#* ]] && continue                      # anchor in this page
    [[ "$target" =~ ^[a-zA-Z][a-zA-Z0-9+.-]*: ]] && continue  # http:, https:, mailto:, ...
    links=$((links + 1))
    path=${target%%#*}
    path=${path%%\?*}
    path=${path//%20/ }
    if [ -z "$path" ]; then
      continue
    fi
    case "$path" in
      /*) problem "$md:$line: link to an absolute path: $target"; continue ;;
    esac
    resolved="$dir/$path"
    if [ ! -e "$resolved" ]; then
      problem "$md:$line: broken link: $target"
      continue
    fi
    # Must stay inside the repository.
    if [ -d "$resolved" ]; then
      real=$(cd "$resolved" && pwd -P)
    else
      real=$(cd "$(dirname "$resolved")" && pwd -P)/$(basename "$resolved")
    fi
    case "$real" in
      "$root" | "$root"/*) ;;
      *) problem "$md:$line: link leaves the repository: $target" ;;
    esac
  done < <(extract_links "$md")
done

# --- 2. no references to documents outside the repository ------------------------

FORBIDDEN=('../shared' 'CONTRACT.md' 'SCHEMA-SEED.md')
grep_args=()
for s in "${FORBIDDEN[@]}"; do
  grep_args+=(-e "$s")
done

while IFS= read -r -d '' f; do
  [ "$f" = "$self" ] && continue
  # Migration files are immutable once written: `migrate` checksums them and
  # refuses a changed file, so a comment in one is not rewritten here
  # (docs/database.md says what the schema document was).
  case "$f" in migrations/*.sql) continue ;; esac
  [ -f "$f" ] || continue                         # deleted or moved in the work tree
  while IFS= read -r hit; do
    lineno=${hit%%:*}
    text=${hit#*:}
    for s in "${FORBIDDEN[@]}"; do
      if [[ "$text" == *"$s"* ]]; then
        problem "$f:$lineno: names a document outside the repository ($s)"
      fi
    done
  done < <(grep -I -n -F "${grep_args[@]}" -- "$f" || true)
done < <(git ls-files -z --cached --others --exclude-standard | sort -zu)

if [ "$problems" -gt 0 ]; then
  echo "docs: $problems problem(s)" >&2
  exit 1
fi
echo "docs: $links links checked, all resolve"
