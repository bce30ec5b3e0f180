# The one harness of the benchmark and reliability scripts: a work folder, the `jeto` binary,
# a config over the jeto_fake test plugin, and servers started so that every one of them (and
# every process it starts) is stopped when the script ends, however it ends. Source it; it sets
# $work, $key and $jeto_bin.
#
#   JETO_BENCH_PROFILE=release (default) or dev: which build of `jeto` to run (dev is for the
#   harness check in .ci/run, which only looks at what is left running, not at numbers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# need TOOL...: fails with the install line when a tool is missing.
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y $tool" >&2; exit 1; }
  done
}
need curl setsid

work=$(mktemp -d)
# Process groups of the servers started (each runs in its own session, see start), stopped by
# cleanup. Kept in this shell: `start` must not run in a $(...) subshell, where they would be
# lost (the bug that left every server of an earlier run alive).
groups=()
cleanup_hooks=()
cleanup() {
  local hook group
  for hook in "${cleanup_hooks[@]}"; do eval "$hook" || true; done
  for group in "${groups[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for group in "${groups[@]}"; do kill -0 -- "-$group" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for group in "${groups[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# on_exit COMMAND: runs COMMAND (a string) first when the script ends, before servers stop.
on_exit() { cleanup_hooks+=("$1"); }

cp -r jeto-vagrant/tests/fixture "$work/fixture"
key=bench-key
hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)

# build_jeto: builds the `jeto` binary of the chosen profile and sets $jeto_bin.
build_jeto() {
  case "${JETO_BENCH_PROFILE:-release}" in
    release) cargo build -q --release -p jeto-server --bin jeto; jeto_bin=target/release/jeto ;;
    dev) cargo build -q -p jeto-server --bin jeto; jeto_bin=target/debug/jeto ;;
    *) echo "JETO_BENCH_PROFILE is release or dev" >&2; exit 1 ;;
  esac
}

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

# start VAR LOG COMMAND...: starts a server in a session of its own and sets VAR to the
# address it listens on (read from LOG; its log goes to LOG.err). Call it directly, never
# inside $(...).
start() {
  local var=$1 log=$2 found="" pid; shift 2
  setsid "$@" > "$log" 2>"$log.err" &
  pid=$!
  groups+=("$pid")
  for _ in $(seq 1 2000); do
    found=$(sed -n 's/.*listening on http:\/\///p' "$log" | head -n1)
    [ -n "$found" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  if [ -z "$found" ]; then
    echo "server did not start: $*" >&2
    tail -n 20 "$log" "$log.err" >&2
    exit 1
  fi
  printf -v "$var" '%s' "$found"
}

# stop_last: stops the server started last (SIGTERM to its group) and waits for it.
stop_last() {
  local group=${groups[-1]}
  kill -TERM -- "-$group" 2>/dev/null || true
  while kill -0 "$group" 2>/dev/null; do sleep 0.05; done
  unset 'groups[-1]'
}

# register ADDR N FIXTURE: N instances, each on its own copy of the fixture folder FIXTURE
# (single or multi): one folder holds one instance.
register() {
  need vagrant
  for i in $(seq 1 "$2"); do
    mkdir -p "$work/instances/$i"
    cp "$work/fixture/$3/Vagrantfile" "$work/fixture/$3/jeto.json" "$work/instances/$i/"
    sed -i "s|require_relative \"../plugin/jeto_fake\"|require \"$work/fixture/plugin/jeto_fake\"|" "$work/instances/$i/Vagrantfile"
    curl -s -o /dev/null -H "X-JETO-KEY: $key" -H 'Content-Type: application/json' \
      -d "{\"name\":\"bench-$i\",\"host\":1,\"path\":\"$work/instances/$i\"}" "http://$1/api/instances"
  done
}

# measure WRK_ARGS...: runs wrk with $THREADS, $CONNECTIONS and $DURATION and prints
# "requests/s p99_ms".
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
               ms = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v; p99 = ms }
    END { printf "%.0f %.2f\n", rps, p99 }'
}

# median NUMBERS...: their median.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
