#!/usr/bin/env bash
# Builds the release binaries into dist/release/ (aegis-linux-x64, aegis-linux-x64-baseline,
# aegis-linux-arm64, aegis-darwin-arm64, aegis-darwin-x64) and one SHA256SUMS for all of them.
# Bun fetches each target's runtime from the npm registry: a target it cannot fetch or build is
# reported and left out (with --strict it fails the release instead).
#
# Usage: bash scripts/release.sh [--targets linux-x64,linux-arm64] [--out DIR] [--strict]
#   --out DIR  where the files go (default dist/release); it is replaced as a whole, so a re-run
#              never leaves a stale binary or checksum behind.
# Check a download with: sha256sum -c --ignore-missing SHA256SUMS
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'release: %s\n' "$*" >&2; }
die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }

ALL="linux-x64,linux-x64-baseline,linux-arm64,darwin-arm64,darwin-x64"
TARGETS="$ALL"
OUT="dist/release"
STRICT=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --targets) [[ $# -ge 2 ]] || die "--targets needs a list, e.g. --targets linux-x64,linux-arm64"; TARGETS="$2"; shift 2 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; OUT="$2"; shift 2 ;;
    --strict) STRICT=1; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done
IFS=, read -r -a WANTED <<<"$TARGETS"
[[ ${#WANTED[@]} -gt 0 ]] || die "--targets is empty"
for t in "${WANTED[@]}"; do
  [[ ",$ALL," == *",$t,"* ]] || die "unknown target '$t'; one of: $ALL"
done

command -v bun >/dev/null 2>&1 || die "bun is not installed: run 'bash scripts/setup.sh' first"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is missing (GNU coreutils)"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
  say "warning: the working tree has uncommitted changes; the binaries say commit $(git rev-parse --short HEAD) but contain them"
fi

# Build into a fresh staging directory and swap it in at the end: an interrupted run leaves the
# previous release whole.
mkdir -p "$(dirname "$OUT")"
STAGE="$(mktemp -d "$(dirname "$OUT")/.release.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

HOST="$(bun -e 'console.log(`${process.platform}-${process.arch}`)')"
BUILT=() LEFT_OUT=()
for t in "${WANTED[@]}"; do
  say "building aegis-$t"
  if ! bun scripts/build.ts --target "bun-$t" --outfile "$STAGE/aegis-$t" >&2; then
    [[ $STRICT -eq 0 ]] || die "aegis-$t did not build (--strict)"
    say "warning: aegis-$t did not build (could its runtime not be fetched?): left out"
    LEFT_OUT+=("$t"); rm -f "$STAGE/aegis-$t"; continue
  fi
  # A binary this machine can run is run: its --version must name the target it was built for.
  if [[ "$t" == "$HOST" || "$t" == "$HOST-baseline" ]]; then
    v="$("$STAGE/aegis-$t" --version)" || die "aegis-$t does not run here"
    [[ "$v" == *", $t)" ]] || die "aegis-$t says '$v', not target $t"
    say "$v"
  fi
  BUILT+=("$t")
done
[[ ${#BUILT[@]} -gt 0 ]] || die "no target built"

# Names are relative, so the check works wherever the files are copied together.
(cd "$STAGE" && sha256sum "${BUILT[@]/#/aegis-}" > SHA256SUMS && sha256sum --quiet -c SHA256SUMS) || die "SHA256SUMS does not check"
chmod 0755 "$STAGE"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
trap - EXIT

say "wrote $OUT: ${BUILT[*]/#/aegis-} SHA256SUMS"
[[ ${#LEFT_OUT[@]} -eq 0 ]] || say "left out: ${LEFT_OUT[*]}"
