#!/usr/bin/env bash
# Memory and start-up: the `jeto` server over a registry of 10,000 instances. Prints the time
# from spawning the process to its first answered request, the time of the first full
# `GET /api/instances`, and the resident set size after it.
#
#   benches/memory.sh            # INSTANCES=10000 by default; needs curl
INSTANCES=${INSTANCES:-10000}
source "$(dirname "$0")/common.sh"
build_jeto
mkdir -p "$work/data" "$work/project"
echo '# empty' > "$work/project/Vagrantfile"
printf 'listen = "127.0.0.1:0"\ndata_dir = "%s/data"\n[[tokens]]\nname = "bench"\nkey_sha256 = "%s"\nadmin = true\n' "$work" "$hash" > "$work/jeto.toml"

# The registry in the JSON format of earlier versions, written directly: a first start imports
# it into the database (timed apart), the measured start opens that database.
{
  printf '{"next_instance_id":%d,"next_host_id":2,"instances":[' $((INSTANCES + 1))
  for i in $(seq 1 "$INSTANCES"); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"id":%d,"name":"instance-%d","path":"%s/project-%d","archive_url":null,"git_reference":null,"environment":"bench","host_id":1,"jeto_infos":{"team":"bench","scripts":{"status":{"command":"uptime"}}}}' "$i" "$i" "$work" "$i"
  done
  printf '],"hosts":[{"id":1,"name":"local","provider":"virtualbox","params":{"A":"1"}}]}'
} > "$work/data/instances.json"

now_ms() { date +%s%3N; }
answered() { until curl -sf -o /dev/null -H "X-JETO-KEY: $key" "http://$1/api/hosts"; do :; done; }
t_import=$(now_ms)
start addr "$work/import.out" "$jeto_bin" serve --config "$work/jeto.toml"
answered "$addr"
t_imported=$(now_ms)
stop_last
t0=$(now_ms)
start addr "$work/out" "$jeto_bin" serve --config "$work/jeto.toml"
answered "$addr"
t1=$(now_ms)
pid=${groups[-1]}
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
