#!/usr/bin/env bash
# HTTP load benchmark: the `jeto` server with 100 registered instances whose status is cached,
# against a bare hyper hello-world (examples/hello_hyper.rs), driven by the same wrk settings
# in the same session. Prints requests/s and p99 for each, and the ratios Jeto / bare.
#
#   benches/load.sh                      # DURATION=10s CONNECTIONS=64 THREADS=2 by default
#
# Needs vagrant and wrk (`apt-get install -y vagrant wrk`), and curl. Every process it starts is
# stopped when it ends (benches/common.sh; checked by benches/leftovers.sh in CI). No hypervisor: the
# instances use the jeto_fake test plugin.
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
INSTANCES=${INSTANCES:-100}
source "$(dirname "$0")/common.sh"
need vagrant wrk
build_jeto
if [ "${JETO_BENCH_PROFILE:-release}" = dev ]; then
  cargo build -q -p jeto --example hello_hyper; hello=target/debug/examples/hello_hyper
else
  cargo build -q --release -p jeto --example hello_hyper; hello=target/release/examples/hello_hyper
fi
write_config "$work/jeto.toml" 86400

start jeto "$work/jeto.out" "$jeto_bin" serve --config "$work/jeto.toml"
# The same server with metrics off (its own store), for the cost of counting.
write_config "$work/jeto-off.toml" 86400
sed -i -e "1i metrics = false" -e "s|data_dir = \"$work/data\"|data_dir = \"$work/data-off\"|" "$work/jeto-off.toml"
start jeto_off "$work/jeto-off.out" "$jeto_bin" serve --config "$work/jeto-off.toml"
start bare "$work/bare.out" "$hello" 127.0.0.1:0
H=(-s -H "X-JETO-KEY: $key")
register "$jeto" "$INSTANCES" single
echo "registered $INSTANCES instances; reading every status once (vagrant, 4 at a time)..." >&2
curl "${H[@]}" -o /dev/null "http://$jeto/api/instances?refresh=true"
register "$jeto_off" "$INSTANCES" single
curl "${H[@]}" -o /dev/null "http://$jeto_off/api/instances?refresh=true"
# A second baseline: bare hyper answering as many bytes as the list of instances.
list_bytes=$(curl "${H[@]}" "http://$jeto/api/instances" | wc -c)
start bare_big "$work/bare-big.out" "$hello" 127.0.0.1:0 "$list_bytes"


read -r bare_rps bare_p99 < <(measure "http://$bare/")
read -r big_rps big_p99 < <(measure "http://$bare_big/")
read -r one_rps one_p99 < <(measure -H "X-JETO-KEY: $key" "http://$jeto/api/instances/1")
read -r list_rps list_p99 < <(measure -H "X-JETO-KEY: $key" "http://$jeto/api/instances")
# Metrics on against off, alternating (on, off, on, off, ...) so drift hits both alike; the
# median of ROUNDS runs each.
on_runs=(); off_runs=()
for _ in $(seq 1 "${ROUNDS:-3}"); do
  read -r rps _ < <(measure -H "X-JETO-KEY: $key" "http://$jeto/api/instances/1"); on_runs+=("$rps")
  read -r rps _ < <(measure -H "X-JETO-KEY: $key" "http://$jeto_off/api/instances/1"); off_runs+=("$rps")
done
on_median=$(median "${on_runs[@]}")
off_median=$(median "${off_runs[@]}")

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on loopback, $(nproc) cores shared by wrk and the server"
printf '%-42s %12s %10s %16s\n' target requests/s p99_ms "ratio Jeto/bare"
printf '%-42s %12s %10s %16s\n' "bare hyper GET /" "$bare_rps" "$bare_p99" "-"
printf '%-42s %12s %10s %16s\n' "jeto GET /api/instances/1 (cached)" "$one_rps" "$one_p99" "$(awk -v a="$one_rps" -v b="$bare_rps" 'BEGIN{printf "%.2f", a/b}')"
printf '%-42s %12s %10s %16s\n' "jeto GET /api/instances ($INSTANCES)" "$list_rps" "$list_p99" "$(awk -v a="$list_rps" -v b="$bare_rps" 'BEGIN{printf "%.2f", a/b}')"
printf '%-42s %12s %10s %16s\n' "bare hyper GET / ($list_bytes bytes)" "$big_rps" "$big_p99" "-"
printf '%-42s %12s %10s %16s\n' "jeto list / bare of the same size" "" "" "$(awk -v a="$list_rps" -v b="$big_rps" 'BEGIN{printf "%.2f", a/b}')"
printf '%-42s %12s %10s %16s\n' "jeto GET /api/instances/1, metrics on" "$on_median" "" "median of ${ROUNDS:-3}: ${on_runs[*]}"
printf '%-42s %12s %10s %16s\n' "jeto GET /api/instances/1, metrics off" "$off_median" "" "median of ${ROUNDS:-3}: ${off_runs[*]}"
printf '%-42s %12s %10s %16s\n' "metrics on / off" "" "" "$(awk -v a="$on_median" -v b="$off_median" 'BEGIN{printf "%.3f", a/b}')"
