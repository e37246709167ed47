#!/usr/bin/env bash
# Installs aegis: picks the release binary for this machine, checks it against SHA256SUMS, puts it in
# $PREFIX/bin (default /usr/local/bin), creates /etc/aegis/, adds shell completions and the man page.
#
# Usage: curl -fsSL https://github.com/aegis-proxy/aegis/releases/latest/download/install.sh | sudo bash
#        bash install.sh [--from FILE [--sums FILE | --no-verify]] [--target T] [--print-target]
#   (none)          download aegis-<target> and SHA256SUMS from AEGIS_RELEASE_URL
#                   (default https://github.com/aegis-proxy/aegis/releases/latest/download), curl or wget
#   --from FILE     install a local file instead; checked against SHA256SUMS next to it, or --sums FILE
#   --no-verify     with --from: skip the check (a binary you built yourself: --from dist/aegis)
#   --target T      linux-x64, linux-x64-baseline, linux-arm64, darwin-arm64, darwin-x64
#   --print-target  print the target picked for this machine and exit
#   PREFIX (default /usr/local) and DESTDIR (default empty) move the targets: DESTDIR=/tmp/pkg bash install.sh
#   AEGIS_UNAME_S, AEGIS_UNAME_M and AEGIS_CPUINFO (a file) stand in for uname -s, uname -m, /proc/cpuinfo.
# Safe to run again: it replaces the executable and leaves an existing /etc/aegis alone.
set -euo pipefail

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
RELEASE_URL="${AEGIS_RELEASE_URL:-https://github.com/aegis-proxy/aegis/releases/latest/download}"
TARGETS="linux-x64 linux-x64-baseline linux-arm64 darwin-arm64 darwin-x64"

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

FROM="" SUMS="" VERIFY=1 TARGET="" PRINT_TARGET=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) [[ $# -ge 2 ]] || die "--from needs a file"; FROM="$2"; shift 2 ;;
    --sums) [[ $# -ge 2 ]] || die "--sums needs a file"; SUMS="$2"; shift 2 ;;
    --no-verify) VERIFY=0; shift ;;
    --target) [[ $# -ge 2 ]] || die "--target needs one of: $TARGETS"; TARGET="$2"; shift 2 ;;
    --print-target) PRINT_TARGET=1; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]:-$0}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done
[[ -z "$SUMS" || -n "$FROM" ]] || die "--sums goes with --from"
[[ $VERIFY -eq 1 || -n "$FROM" ]] || die "--no-verify goes with --from: a download is always checked"

# x86-64 CPUs without AVX2 (before Haswell, some Atoms and VMs) need the baseline build.
detect_target() {
  local s="${AEGIS_UNAME_S:-$(uname -s)}" m="${AEGIS_UNAME_M:-$(uname -m)}" cpuinfo="${AEGIS_CPUINFO:-/proc/cpuinfo}"
  case "$s/$m" in
    Linux/x86_64|Linux/amd64)
      # Unreadable cpuinfo: the baseline build, which runs on every x86-64.
      if [[ -r "$cpuinfo" ]] && grep -qw avx2 "$cpuinfo"; then echo linux-x64; else echo linux-x64-baseline; fi ;;
    Linux/aarch64|Linux/arm64) echo linux-arm64 ;;
    Darwin/arm64|Darwin/aarch64) echo darwin-arm64 ;;
    Darwin/x86_64) echo darwin-x64 ;;
    *) die "no aegis binary for $s $m (there are: $TARGETS); build one from source: bun run build" ;;
  esac
}
if [[ -n "$TARGET" ]]; then
  [[ " $TARGETS " == *" $TARGET "* ]] || die "unknown --target '$TARGET'; one of: $TARGETS"
else
  TARGET="$(detect_target)"
fi
if [[ $PRINT_TARGET -eq 1 ]]; then echo "$TARGET"; exit 0; fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else die "neither sha256sum nor shasum is installed: cannot check $1"; fi
}
# Checks FILE against the line for NAME in SUMS (sha256sum's format: "<hex>  <name>").
verify() {
  local file="$1" name="$2" sums="$3" want got
  [[ -f "$sums" ]] || die "no checksum file at $sums (pass --sums FILE, or --no-verify for a binary you built)"
  want="$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1; exit }' "$sums")"
  [[ -n "$want" ]] || die "$sums has no line for $name"
  got="$(sha256 "$file")"
  [[ "$got" == "$want" ]] || die "$file does not match $sums (sha256 $got, expected $want): download it again"
  say "checksum OK ($name)"
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [[ -n "$FROM" ]]; then
  [[ -f "$FROM" ]] || die "no aegis executable at $FROM"
  SOURCE="$FROM"
  if [[ $VERIFY -eq 1 ]]; then verify "$FROM" "$(basename "$FROM")" "${SUMS:-$(dirname "$FROM")/SHA256SUMS}"; fi
else
  fetch() {
    if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
    else die "neither curl nor wget is installed: download $1 yourself and use --from"; fi
  }
  say "downloading aegis-$TARGET from $RELEASE_URL"
  fetch "$RELEASE_URL/aegis-$TARGET" "$WORK/aegis-$TARGET" || die "could not download $RELEASE_URL/aegis-$TARGET"
  fetch "$RELEASE_URL/SHA256SUMS" "$WORK/SHA256SUMS" || die "could not download $RELEASE_URL/SHA256SUMS"
  verify "$WORK/aegis-$TARGET" "aegis-$TARGET" "$WORK/SHA256SUMS"
  SOURCE="$WORK/aegis-$TARGET"
fi
chmod +x "$SOURCE" 2>/dev/null || true
VERSION="$("$SOURCE" --version 2>/dev/null)" || die "$SOURCE does not run ('$SOURCE --version' failed): is it an aegis binary for this machine ($TARGET)?"

BIN_DIR="$DESTDIR$PREFIX/bin"
ETC_DIR="$DESTDIR/etc/aegis"
if ! mkdir -p "$BIN_DIR" 2>/dev/null || ! [[ -w "$BIN_DIR" ]]; then
  die "cannot write to $BIN_DIR: run as root (sudo bash install.sh), or set PREFIX to a directory of yours"
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

# Completions and the man page come from the binary itself, so they always match its commands.
# An aegis without `completion`/`man` gets none (and no error).
SHARE="$DESTDIR$PREFIX/share"
extra() {
  local dest="$1"; shift
  if "$BIN_DIR/aegis" "$@" </dev/null >"$WORK/extra" 2>/dev/null && [[ -s "$WORK/extra" ]]; then
    mkdir -p "$(dirname "$dest")" && install -m 0644 "$WORK/extra" "$dest" && say "installed $dest"
  fi
}
extra "$SHARE/bash-completion/completions/aegis" completion bash
extra "$SHARE/zsh/site-functions/_aegis" completion zsh
extra "$SHARE/fish/vendor_completions.d/aegis.fish" completion fish
extra "$SHARE/man/man1/aegis.1" man

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
