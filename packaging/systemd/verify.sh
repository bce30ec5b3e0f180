#!/usr/bin/env bash
# Checks the shipped systemd units with `systemd-analyze verify` (.ci/run runs it). verify checks
# that ExecStart's binary exists, so the units are checked pointing at the binary given; any
# complaint fails.
#
#   packaging/systemd/verify.sh target/debug/jeto
set -euo pipefail
binary=$(realpath "${1:?give the jeto binary to point the units at}")
cd "$(dirname "$0")"
command -v systemd-analyze >/dev/null || {
  echo "systemd-analyze is missing: apt-get install -y systemd" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for unit in *.service; do
  sed "s|/usr/local/bin/jeto|$binary|" "$unit" > "$work/$unit"
done
if ! out=$(cd "$work" && systemd-analyze verify ./*.service 2>&1) || [ -n "$out" ]; then
  echo "systemd-analyze verify complains about the units in packaging/systemd:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd units verified: $(ls ./*.service | tr '\n' ' ')"
