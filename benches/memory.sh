#!/usr/bin/env bash
# Memory and start-up: the `jeto` server over a registry of 10,000 instances. Prints the time
# from spawning the process to its first answered request, the time of the first full
# `GET /api/instances`, and the resident set size after it.
#
#   benches/memory.sh            # INSTANCES=10000 by default; needs curl
set -euo pipefail
INSTANCES=${INSTANCES:-10000}
cd "$(dirname "$0")/.."
cargo build -q --release -p jeto-http --bin jeto
work=$(mktemp -d)
pid=""
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data" "$work/project"
echo '# empty' > "$work/project/Vagrantfile"
key=memory-bench-key
hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
printf 'listen = "127.0.0.1:0"\ndata_dir = "%s/data"\n[[tokens]]\nname = "bench"\nkey_sha256 = "%s"\nadmin = true\n' "$work" "$hash" > "$work/jeto.toml"

# The registry in the JSON format of earlier versions, written directly: a first start imports
# it into the database (timed apart), the measured start opens that database.
{
  printf '{"next_instance_id":%d,"next_host_id":2,"instances":[' $((INSTANCES + 1))
  for i in $(seq 1 "$INSTANCES"); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"id":%d,"name":"instance-%d","path":"%s/project","archive_url":null,"git_reference":null,"environment":"bench","host_id":1,"jeto_infos":{"team":"bench","scripts":{"status":{"command":"uptime"}}}}' "$i" "$i" "$work"
  done
  printf '],"hosts":[{"id":1,"name":"local","provider":"virtualbox","params":{"A":"1"}}]}'
} > "$work/data/instances.json"

now_ms() { date +%s%3N; }
wait_listening() {
  addr=""
  while [ -z "$addr" ]; do addr=$(sed -n 's/.*listening on http:\/\///p' "$1"); done
  until curl -sf -o /dev/null -H "X-JETO-KEY: $key" "http://$addr/api/hosts"; do :; done
}
t_import=$(now_ms)
target/release/jeto serve --config "$work/jeto.toml" > "$work/import.out" 2>/dev/null &
pid=$!
wait_listening "$work/import.out"
t_imported=$(now_ms)
kill "$pid"; wait "$pid" 2>/dev/null || true
touch "$work/out"
t0=$(now_ms)
target/release/jeto serve --config "$work/jeto.toml" > "$work/out" 2>/dev/null &
pid=$!
wait_listening "$work/out"
t1=$(now_ms)
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
bytes=$(curl -sf -H "X-JETO-KEY: $key" "http://$addr/api/instances" | wc -c)
t2=$(now_ms)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "instances: $INSTANCES (database $(wc -c < "$work/data/jeto.sqlite3") bytes)"
echo "first start, importing the JSON registry: $((t_imported - t_import)) ms"
echo "spawn to first answered request: $((t1 - t0)) ms"
echo "first GET /api/instances: $((t2 - t1)) ms for $bytes bytes"
echo "RSS after start: $((rss_idle / 1024)) MiB ($rss_idle KiB)"
echo "RSS after it: $((rss / 1024)) MiB ($rss KiB)"
