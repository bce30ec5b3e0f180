#!/usr/bin/env bash
# Jeto against raw vagrant on Vagrant's docker provider, on the same real container, in
# interleaved rounds: a sync start against `vagrant up`, a sync stop against `vagrant halt`,
# and a fresh GET (?max_age=0) against `vagrant status`. Prints medians and ratios.
#
#   benches/real_provider.sh            # ROUNDS=5 by default
#
# Needs vagrant, curl, a running docker daemon and debootstrap (see .ci/run); the image is built
# by jeto-vagrant/tests/docker/image.sh (once per machine, from Debian packages).
ROUNDS=${ROUNDS:-5}
source "$(dirname "$0")/common.sh"
need vagrant docker bc python3
image=$(jeto-vagrant/tests/docker/image.sh)
build_jeto
write_config "$work/jeto.toml" 10
cat >> "$work/jeto.toml" <<TOML
[[hosts]]
id = 2
name = "docker"
provider = "docker"
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
folder="$work/box"
mkdir -p "$folder"
cat > "$folder/Vagrantfile" <<RUBY
Vagrant.configure("2") do |config|
  config.ssh.insert_key = false
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.define "default" do |m|
    m.vm.provider "docker" do |d|
      d.image = "$image"
      d.has_ssh = true
    end
    m.vm.network :forwarded_port, guest: 22, host: $port, host_ip: "127.0.0.1", id: "ssh"
    m.ssh.host = "127.0.0.1"
    m.ssh.port = $port
  end
end
RUBY
start jeto "$work/jeto.out" "$jeto_bin" serve --config "$work/jeto.toml"
H=(-s -H "X-JETO-KEY: $key" -H 'Content-Type: application/json')
curl "${H[@]}" -o /dev/null -d "{\"name\":\"box\",\"host\":2,\"path\":\"$folder\"}" "http://$jeto/api/instances"
export VAGRANT_HOME="$work/vagrant-home" VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DEFAULT_PROVIDER=docker
on_exit '(cd "$folder" && vagrant destroy -f >/dev/null 2>&1)'

# seconds COMMAND...: runs it, prints how long it took.
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
jeto_state() { curl "${H[@]}" -o /dev/null -d "{\"state\":\"$1\"}" "http://$jeto/api/instances/1"; }
raw() { (cd "$folder" && vagrant "$@"); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A t m
for round in $(seq 1 "$ROUNDS"); do
  t[raw_up]+="$(seconds raw up)"$'\n';           t[raw_halt]+="$(seconds raw halt)"$'\n'
  t[jeto_start]+="$(seconds jeto_state start)"$'\n'; t[raw_status]+="$(seconds raw status)"$'\n'
  t[jeto_get]+="$(seconds curl "${H[@]}" "http://$jeto/api/instances/1?max_age=0")"$'\n'
  t[jeto_stop]+="$(seconds jeto_state stop)"$'\n'
  echo "round $round done" >&2
done
for k in raw_up jeto_start raw_halt jeto_stop raw_status jeto_get; do
  m[$k]=$(printf %s "${t[$k]}" | grep -v '^$' | median)
done
printf '%-34s %8s %8s %7s\n' "on the same container, $ROUNDS rounds" "raw s" "jeto s" "ratio"
printf '%-34s %8.2f %8.2f %7.2f\n' "sync start vs vagrant up" "${m[raw_up]}" "${m[jeto_start]}" "$(echo "${m[jeto_start]} / ${m[raw_up]}" | bc -l)"
printf '%-34s %8.2f %8.2f %7.2f\n' "sync stop vs vagrant halt" "${m[raw_halt]}" "${m[jeto_stop]}" "$(echo "${m[jeto_stop]} / ${m[raw_halt]}" | bc -l)"
printf '%-34s %8.2f %8.2f %7.2f\n' "GET ?max_age=0 vs vagrant status" "${m[raw_status]}" "${m[jeto_get]}" "$(echo "${m[jeto_get]} / ${m[raw_status]}" | bc -l)"
