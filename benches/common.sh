# Shared by the benchmark and reliability scripts: a work folder, a jeto config over the
# jeto_fake test plugin, and starting servers. Source it; it sets $work and $key.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in vagrant curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y $tool" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cp -r jeto-vagrant/tests/fixture "$work/fixture"
key=bench-key
hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)

# write_config FILE [MAX_AGE_SECS]: an admin token, host 1 on the jeto_fake provider.
write_config() {
  cat > "$1" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
status_max_age_secs = ${2:-10}
[vagrant]
max_concurrent = 4
env = { VAGRANT_HOME = "$work/vagrant-home", VAGRANT_CHECKPOINT_DISABLE = "1" }
[[hosts]]
id = 1
name = "fake"
provider = "jeto_fake"
[[tokens]]
name = "bench"
key_sha256 = "$hash"
admin = true
TOML
}

# start LOG COMMAND...: starts a server in the background, prints the address it listens on.
start() {
  local log=$1; shift
  "$@" > "$log" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 1 200); do
    addr=$(sed -n 's/.*listening on http:\/\///p' "$log" | head -n1)
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.05
  done
  echo "server did not start: $(cat "$log")" >&2; exit 1
}

# register ADDR N FIXTURE: N instances, each on its own copy of the fixture folder FIXTURE
# (single or multi): one folder holds one instance.
register() {
  for i in $(seq 1 "$2"); do
    mkdir -p "$work/instances/$i"
    cp "$work/fixture/$3/Vagrantfile" "$work/fixture/$3/jeto.json" "$work/instances/$i/"
    sed -i "s|require_relative \"../plugin/jeto_fake\"|require \"$work/fixture/plugin/jeto_fake\"|" "$work/instances/$i/Vagrantfile"
    curl -s -o /dev/null -H "X-JETO-KEY: $key" -H 'Content-Type: application/json' \
      -d "{\"name\":\"bench-$i\",\"host\":1,\"path\":\"$work/instances/$i\"}" "http://$1/api/instances"
  done
}
