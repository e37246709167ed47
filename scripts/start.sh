#!/usr/bin/env bash
# Runs the built dist/aegis from the repository root: with ./aegis.toml or /etc/aegis/aegis.toml when
# one exists (aegis finds them itself), else the self-contained `aegis demo`.
# Arguments are passed on: `npm start -- --config my.toml`, `bash scripts/start.sh check`.
# Run scripts/setup.sh first (`npm start` does).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BINARY="./dist/aegis"

[[ -x "$BINARY" ]] || { echo "start: $BINARY is missing: run 'bash scripts/setup.sh' (or 'npm start') first" >&2; exit 1; }

if [[ $# -gt 0 ]]; then
  exec "$BINARY" "$@"
fi
for config in ./aegis.toml /etc/aegis/aegis.toml; do
  if [[ -f "$config" ]]; then
    echo "start: running aegis with $config" >&2
    exec "$BINARY" --config "$config"
  fi
done
echo "start: no ./aegis.toml or /etc/aegis/aegis.toml: running 'aegis demo' (Ctrl-C to stop)" >&2
exec "$BINARY" demo
