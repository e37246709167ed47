#!/bin/sh
# Makes the certificates tls-hop-a.toml and tls-hop-b.toml name, in certs/ next to this script: a mesh
# CA and one certificate per node (node-a as a TLS client, node-b as a server named "node-b").
# For a test set only: in production the keys come from your own CA.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/certs"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=mesh-ca" -keyout mesh-ca.key -out mesh-ca.pem 2>/dev/null
for node in node-a node-b; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$node" \
    -keyout "$node.key" -out "$node.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$node" > "$node.ext"
  openssl x509 -req -in "$node.csr" -CA mesh-ca.pem -CAkey mesh-ca.key -CAcreateserial -days 90 \
    -extfile "$node.ext" -out "$node.pem" 2>/dev/null
  rm "$node.csr" "$node.ext"
done
echo "certificates in $dir"
