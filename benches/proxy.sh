#!/usr/bin/env bash
# Proxy benchmark (issue 30): GETs through Jeto's reverse proxy to a "machine" against the same
# GETs straight to it, in the same session, alternating so drift hits both alike; the domain is
# public. The jeto_fake plugin reports the machine's address as its IP. The machine is:
#
#   MACHINE=hello (default)   a bare hyper hello-world (examples/hello_hyper.rs) on this box's
#                             own non-loopback address: the proxy's whole cost, nothing else
#   MACHINE=container         the docker tier's test image running the domain test's Python web
#                             server (jeto-server/tests/docker/web.py) in a container, as a
#                             machine serves a site (needs docker and debootstrap, as the tests)
#
#   benches/proxy.sh                     # DURATION=10s CONNECTIONS=64 THREADS=2 ROUNDS=3
#
# Prints requests/s and p99 of each (medians of ROUNDS), and proxied/direct ratios. Needs
# vagrant, wrk and curl; every process it starts is stopped when it ends (benches/common.sh).
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
source "$(dirname "$0")/common.sh"
need vagrant wrk hostname
build_jeto
if [ "${JETO_BENCH_PROFILE:-release}" = dev ]; then
  cargo build -q -p jeto --example hello_hyper; hello=target/debug/examples/hello_hyper
else
  cargo build -q --release -p jeto --example hello_hyper; hello=target/release/examples/hello_hyper
fi
case "${MACHINE:-hello}" in
  hello)
    ip=$(hostname -I | tr ' ' '\n' | grep -v '^127\.' | grep -v ':' | head -n1)
    [ -n "$ip" ] || { echo "needs a non-loopback IPv4 address on this box" >&2; exit 1; }
    start machine "$work/machine.out" "$hello" "$ip:0"
    ;;
  container)
    need docker
    image=$(jeto-vagrant/tests/docker/image.sh)
    container=$(docker run -d --rm -v "$PWD/jeto-server/tests/docker/web.py:/web.py:ro" "$image" python3 /web.py)
    on_exit "docker rm -f $container >/dev/null"
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container")
    machine="$ip:8080"
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://$machine/" && break; sleep 0.1; done
    ;;
  *) echo "MACHINE is hello or container" >&2; exit 1 ;;
esac
write_config "$work/jeto.toml"
sed -i "s|^provider = \"jeto_fake\"$|provider = \"jeto_fake\"\nparams = { JETO_FAKE_IPS = \"$ip\", JETO_FAKE_SSH_HOST = \"$ip\" }|" "$work/jeto.toml"
printf '[proxy]\nlisten = "127.0.0.1:0"\nmax_connections = 4096\n' >> "$work/jeto.toml"
start jeto "$work/jeto.out" "$jeto_bin" serve --config "$work/jeto.toml"
proxy=$(sed -n 's/.*proxy listening on http:\/\///p' "$work/jeto.out" | head -n1)
[ -n "$proxy" ] || { echo "the proxy did not start" >&2; cat "$work/jeto.out" "$work/jeto.out.err" >&2; exit 1; }
H=(-s -H "X-JETO-KEY: $key" -H 'Content-Type: application/json')
register "$jeto" 1 single
curl "${H[@]}" -o /dev/null -d '{"state":"start"}' "http://$jeto/api/instances/1"
curl "${H[@]}" -o /dev/null -d "{\"name\":\"bench.test\",\"instance\":1,\"port\":${machine##*:},\"access\":{\"mode\":\"public\"}}" "http://$jeto/api/domains"
check=$(curl -s -H 'Host: bench.test' "http://$proxy/")
[ "$check" = "$(curl -s "http://$machine/")" ] || { echo "the proxy does not reach the machine: $check" >&2; exit 1; }

direct_rps=(); direct_p99=(); proxied_rps=(); proxied_p99=()
for _ in $(seq 1 "${ROUNDS:-3}"); do
  read -r rps p99 < <(measure "http://$machine/"); direct_rps+=("$rps"); direct_p99+=("$p99")
  read -r rps p99 < <(measure -H 'Host: bench.test' "http://$proxy/"); proxied_rps+=("$rps"); proxied_p99+=("$p99")
done
d_rps=$(median "${direct_rps[@]}"); d_p99=$(median "${direct_p99[@]}")
p_rps=$(median "${proxied_rps[@]}"); p_p99=$(median "${proxied_p99[@]}")
echo "machine: ${MACHINE:-hello}; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, medians of ${ROUNDS:-3} alternating runs, $(nproc) cores shared by wrk, jeto and the machine"
printf '%-34s %12s %10s   %s\n' target requests/s p99_ms runs
printf '%-34s %12s %10s   %s\n' "direct GET / (the machine)" "$d_rps" "$d_p99" "${direct_rps[*]}"
printf '%-34s %12s %10s   %s\n' "proxied GET / (bench.test)" "$p_rps" "$p_p99" "${proxied_rps[*]}"
printf 'throughput proxied/direct: %s (issue 30 asks >= 0.8)\n' "$(awk -v a="$p_rps" -v b="$d_rps" 'BEGIN{printf "%.2f", a/b}')"
printf 'p99 proxied/direct: %s (issue 30 asks <= 1.5)\n' "$(awk -v a="$p_p99" -v b="$d_p99" 'BEGIN{printf "%.2f", a/b}')"
