#!/usr/bin/env bash
# Sets up a fresh clone of aegis on a machine that has at least Node.js 20 and npm:
#   1. Bun: installed with `npm install -g bun@BUN_VERSION` when `bun` is missing,
#   2. dependencies: `bun install --frozen-lockfile`,
#   3. the executable: `bun run build` -> dist/aegis.
# With --test it also makes sure the system packages the test suite uses are present.
#
# Usage: bash scripts/setup.sh [--test]
# Safe to run again: every step is skipped or quick when already done. Never prompts.
set -euo pipefail

BUN_VERSION="1.4.5"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<'EOF'
Usage: bash scripts/setup.sh [--test]

Installs Bun (through npm) if it is missing, installs dependencies and builds dist/aegis.
  --test   also install the system packages the test suite needs (Debian/Ubuntu, as root)
EOF
}

WITH_TEST_PACKAGES=false
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST_PACKAGES=true ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

is_root() { [[ "$(id -u)" == 0 ]]; }

bun_works() { command -v bun >/dev/null 2>&1 && bun --version >/dev/null 2>&1; }

# Bin directory of a user-level npm prefix, used when the global one is not writable.
USER_PREFIX="${HOME:-/tmp}/.local"

# ---------------------------------------------------------------------------------------------
# 1. Bun
# ---------------------------------------------------------------------------------------------

# npm -g writes $prefix/lib/node_modules and $prefix/bin (or creates them).
writable_prefix() {
  local dir
  for dir in "$1/lib/node_modules" "$1/bin"; do
    while [[ ! -e "$dir" ]]; do dir="$(dirname "$dir")"; done
    [[ -w "$dir" ]] || return 1
  done
}

# Installs Bun with npm. A non-root user whose global npm prefix is not writable (Node.js from
# the distribution) gets it under ~/.local instead. Sets BUN_INSTALLED_BIN to the bin directory.
install_bun() {
  command -v npm >/dev/null 2>&1 || die "Bun is not installed and npm is missing: install Node.js 20+ with npm (or Bun ${BUN_VERSION}) first"
  command -v node >/dev/null 2>&1 || die "Bun is not installed and node is missing: install Node.js 20+ first"

  local prefix
  prefix="$(npm prefix -g 2>/dev/null)" || die "npm prefix -g failed"
  local -a prefix_args=()
  if ! is_root && ! writable_prefix "$prefix"; then
    say "the global npm prefix $prefix is not writable: installing Bun under $USER_PREFIX instead"
    prefix="$USER_PREFIX"
    prefix_args=(--prefix "$prefix")
    mkdir -p "$prefix"
  fi

  say "Bun not found: npm install -g bun@${BUN_VERSION}"
  # --foreground-scripts so a failing postinstall is visible; never prompts.
  npm install -g "${prefix_args[@]}" --no-fund --no-audit --foreground-scripts "bun@${BUN_VERSION}" >&2 \
    || die "npm install -g bun@${BUN_VERSION} failed (see above)"

  local root bin
  root="$(npm root -g "${prefix_args[@]}")"
  bin="$prefix/bin"
  [[ -d "$root/bun" ]] || die "npm reported success but $root/bun does not exist"

  # npm run with --ignore-scripts (or an npm that skipped postinstall) leaves a placeholder bun.exe.
  if ! "$bin/bun" --version >/dev/null 2>&1; then
    say "bun does not run yet (postinstall skipped?): running the package's install.js"
    (cd "$root/bun" && node install.js) >&2 || die "node $root/bun/install.js failed"
  fi
  "$bin/bun" --version >/dev/null 2>&1 || die "bun was installed in $bin but '$bin/bun --version' still fails"
  BUN_INSTALLED_BIN="$bin"
}

ensure_bun() {
  BUN_INSTALLED_BIN=""
  if bun_works; then
    local have
    have="$(bun --version)"
    [[ "$have" == "$BUN_VERSION" ]] || say "warning: found Bun $have; aegis is developed and tested on Bun $BUN_VERSION"
    return
  fi
  if command -v bun >/dev/null 2>&1; then
    say "warning: '$(command -v bun)' is on PATH but 'bun --version' fails: installing Bun ${BUN_VERSION} with npm"
  fi
  install_bun
  if ! bun_works; then
    # Installed into a directory that is not on PATH (for example ~/.local/bin).
    export PATH="$BUN_INSTALLED_BIN:$PATH"
    say "note: $BUN_INSTALLED_BIN is not on your PATH; add it to use bun directly (export PATH=\"$BUN_INSTALLED_BIN:\$PATH\")"
  fi
  bun_works || die "bun still does not run after installing it"
  say "Bun $(bun --version) installed at $(command -v bun)"
}

# npm scripts put ./node_modules/.bin first on PATH: a link there lets `npm test` and `npm start`
# find a bun that was installed outside PATH.
link_bun_for_npm_scripts() {
  [[ -n "$BUN_INSTALLED_BIN" && "$(command -v bun)" == "$BUN_INSTALLED_BIN/bun" ]] || return 0
  mkdir -p node_modules/.bin
  ln -sf "$BUN_INSTALLED_BIN/bun" node_modules/.bin/bun
}

# ---------------------------------------------------------------------------------------------
# 2. System packages for the tests (--test)
# ---------------------------------------------------------------------------------------------

# Each entry is "command:debian-package": the package is installed only when the command is
# missing. The command may list alternatives as "a|b", each a name on PATH or a path pattern (with a
# slash). ADD PACKAGES THE TESTS NEED HERE.
TEST_PACKAGES=(
  "python3:python3"   # test/fixtures/*.py (scripted peers), the NOTIFY_SOCKET stand-in
  "script:bsdutils"   # test/init-pty.test.ts: aegis init on a real pseudo-terminal
  "systemd-analyze:systemd"   # test/service.test.ts: verify and security of the generated unit
  "sha256sum:coreutils"       # test/service-scripts.test.ts: release checksums
  "curl:curl"                 # test/service-scripts.test.ts: install.sh downloads a release (from a file:// URL)
  "chromium:chromium" # test/status-page.test.ts: the status page in a real headless browser (playwright-core drives it)
  # test/postgres-pool.test.ts: a real PostgreSQL behind the pool. Debian keeps initdb and pg_ctl off PATH.
  "initdb|/usr/lib/postgresql/*/bin/initdb:postgresql"
  "openssl:openssl"   # test/helpers/certs.ts makes the test PKI; s_client checks which certificate is served
  # test/tls-e2e.test.ts: redis-cli --tls and redis-benchmark --tls through a terminating listener to a real redis-server
  "redis-server:redis-server"
  "redis-cli:redis-tools"
  "promtool:prometheus"   # test/tls-e2e.test.ts, test/ops.test.ts: promtool check metrics, check rules, test rules
  "curl:curl"   # test/metrics-access.test.ts: a client bound to 127.0.0.2 (--interface) against [metrics] allow
  # test/net/proxy-protocol-*.test.ts, test/client-e2e.test.ts: real HAProxy and nginx stream sending and accepting PROXY headers
  "mmdblookup:mmdb-bin"   # test/geo/geoip.test.ts: libmaxminddb, the reference reader our lookups are compared with
  "/usr/lib/*/perl5/*/MaxMind/DB/Writer/Tree.pm:libmaxmind-db-writer-perl"   # test/geo/geoip-maxmind.test.ts: databases in MaxMind's own schema
  "/usr/share/GeoIP/GeoIP.dat:geoip-database"   # test/geo/geoip-files.test.ts: a legacy .dat, refused
  "dnsmasq|/usr/sbin/dnsmasq:dnsmasq"   # test/discovery/dns.test.ts: a real DNS server with its own A, AAAA and SRV records
  "mariadbd|/usr/sbin/mariadbd|/usr/sbin/mysqld:mariadb-server"   # test/health/protocol.test.ts: a real MariaDB's greeting and error packet
  "mariadb-install-db:mariadb-server"
  "mariadb:mariadb-client"
  "haproxy:haproxy"
  # test/cli.test.ts: the completion scripts run in real shells, and the man page renders without warnings
  "zsh:zsh"
  "fish:fish"
  "man:man-db"
  "groff:groff-base"
  "nginx:nginx"
  "/usr/lib/nginx/modules/ngx_stream_module.so:libnginx-mod-stream"
)

# True when one of the "|"-separated alternatives exists: a command on PATH or a matching path.
have_any() {
  local alt
  local -a alts
  IFS='|' read -r -a alts <<<"$1"
  for alt in "${alts[@]}"; do
    if [[ "$alt" == */* ]]; then compgen -G "$alt" >/dev/null && return 0
    else command -v "$alt" >/dev/null 2>&1 && return 0; fi
  done
  return 1
}

ensure_test_packages() {
  local -a missing=()
  local entry
  for entry in "${TEST_PACKAGES[@]}"; do
    have_any "${entry%%:*}" || missing+=("${entry#*:}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  if ! command -v apt-get >/dev/null 2>&1; then
    die "the tests need these packages, and this is not a Debian-like system: ${missing[*]}. Install them and run again."
  fi
  if ! is_root; then
    die "the tests need these Debian packages: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages for the tests: ${missing[*]}"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
}

# ---------------------------------------------------------------------------------------------

ensure_bun

[[ "$WITH_TEST_PACKAGES" == true ]] && ensure_test_packages

say "bun install --frozen-lockfile"
bun install --frozen-lockfile >&2
link_bun_for_npm_scripts

say "building dist/aegis"
bun run build >&2
[[ -x "$REPO/dist/aegis" ]] || die "the build did not produce dist/aegis"
say "ready: $REPO/dist/aegis ($("$REPO/dist/aegis" --version))"
