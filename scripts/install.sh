#!/usr/bin/env bash
# Installs the aegis executable to $PREFIX/bin (default /usr/local/bin) and creates /etc/aegis/.
#
# Usage: bash scripts/install.sh [PATH-TO-AEGIS]
#   The executable is, in this order: the argument; ./aegis next to this script (a release
#   directory: aegis, aegis.sha256, install.sh); dist/aegis of the repository (bun run build).
#   PREFIX (default /usr/local) and DESTDIR (default empty: the real root) move the targets,
#   for packaging and tests: DESTDIR=/tmp/pkg bash scripts/install.sh
# Safe to run again: it replaces the executable and leaves an existing /etc/aegis alone.
set -euo pipefail

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[[ $# -le 1 ]] || die "one argument at most (the aegis executable); see --help"

if [[ $# -eq 1 ]]; then
  SOURCE="$1"
elif [[ -f "$HERE/aegis" ]]; then
  SOURCE="$HERE/aegis"
else
  SOURCE="$HERE/../dist/aegis"
fi
[[ -f "$SOURCE" ]] || die "no aegis executable at $SOURCE: build it with 'bun run build' (or 'bash scripts/setup.sh'), or pass its path"

# A release copied next to this script (aegis, aegis.sha256, install.sh) is checked before it is
# run. The repository's dist/ is not: a rebuild there leaves an older aegis.sha256 stale.
SUMS="$HERE/aegis.sha256"
if [[ "$SOURCE" == "$HERE/aegis" && -f "$SUMS" ]]; then
  command -v sha256sum >/dev/null 2>&1 || die "sha256sum is missing: cannot check $SOURCE against $SUMS"
  (cd "$HERE" && sha256sum --quiet -c aegis.sha256) || die "$SOURCE does not match $SUMS: download it again"
  say "checksum OK ($SUMS)"
fi
VERSION="$("$SOURCE" --version 2>/dev/null)" || die "$SOURCE does not run ('$SOURCE --version' failed): is it an aegis binary for this machine?"

BIN_DIR="$DESTDIR$PREFIX/bin"
ETC_DIR="$DESTDIR/etc/aegis"
if ! mkdir -p "$BIN_DIR" 2>/dev/null || ! [[ -w "$BIN_DIR" ]]; then
  die "cannot write to $BIN_DIR: run as root (sudo bash $0), or set PREFIX to a directory of yours"
fi
# install(1) writes a new file and renames it, so a running aegis keeps its executable.
install -m 0755 "$SOURCE" "$BIN_DIR/aegis"
say "installed $BIN_DIR/aegis: $VERSION"

if [[ -d "$ETC_DIR" ]]; then
  say "$ETC_DIR exists: left as it is"
else
  mkdir -p "$ETC_DIR" 2>/dev/null && chmod 0755 "$ETC_DIR" || die "cannot create $ETC_DIR: run as root"
  say "created $ETC_DIR"
fi

AEGIS="$PREFIX/bin/aegis"
cat <<NEXT

aegis is installed. Next steps:
  1. Write the config:      sudo $AEGIS init --output /etc/aegis/aegis.toml
                            (questions on a terminal; \`$AEGIS help init\` for the same as flags)
  2. Check it:              $AEGIS check --config /etc/aegis/aegis.toml
  3. Run it as a service:   sudo $AEGIS service install --now
                            (a systemd unit running as user aegis; \`systemctl status aegis\`)
     or in the foreground:  $AEGIS --config /etc/aegis/aegis.toml
NEXT
