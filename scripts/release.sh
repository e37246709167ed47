#!/usr/bin/env bash
# Builds dist/aegis and writes dist/aegis.sha256 next to it, so a copy can be checked where it lands:
#   sha256sum -c aegis.sha256
# Ship dist/aegis, dist/aegis.sha256 and scripts/install.sh together: install.sh checks the
# executable next to it against aegis.sha256 before installing it.
#
# Usage: bash scripts/release.sh        (needs Bun: bash scripts/setup.sh installs it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'release: %s\n' "$*" >&2; }
die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }

command -v bun >/dev/null 2>&1 || die "bun is not installed: run 'bash scripts/setup.sh' first"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is missing (GNU coreutils)"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
  say "warning: the working tree has uncommitted changes; the binary says commit $(git rev-parse --short HEAD) but contains them"
fi

say "building dist/aegis"
bun run build >&2
[[ -x dist/aegis ]] || die "the build did not produce dist/aegis"
VERSION="$(dist/aegis --version)"

# The name is relative, so the check works wherever the two files are copied together.
(cd dist && sha256sum aegis > aegis.sha256)
(cd dist && sha256sum --quiet -c aegis.sha256) || die "the checksum file does not check"

say "$VERSION"
say "wrote dist/aegis and dist/aegis.sha256 (sha256 $(cut -c1-16 dist/aegis.sha256)...)"
say "check a copy with: sha256sum -c aegis.sha256"
