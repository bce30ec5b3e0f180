#!/usr/bin/env bash
# The harness check: runs each script of benches/ briefly (dev build, small sizes), then fails
# if any process it started is still alive once it has ended. Every process the script starts
# inherits a marker in its environment (jeto passes its environment on to vagrant and Ruby), so
# what is left is found in /proc whatever it was reparented to.
#
#   benches/leftovers.sh                 # every script; or name some: benches/leftovers.sh load
#
# Run by .ci/run; needs what the scripts need (vagrant, wrk, docker, python3 with venv, curl, bc).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(load memory proxy real_provider schemathesis)
failed=0
for script in "${scripts[@]}"; do
  marker="jeto-bench-$script-$$-$RANDOM$RANDOM"
  log=$(mktemp)
  start=$(date +%s)
  # The schema fuzzer's examples phase only: its coverage and fuzzing phases report the known
  # cross-field rules (docs/api.md), which are findings for a person, not a harness failure.
  args=()
  [ "$script" = schemathesis ] && args=(--phases examples)
  if JETO_BENCH_RUN="$marker" JETO_BENCH_PROFILE=dev DURATION=1s CONNECTIONS=4 INSTANCES=3 \
     ROUNDS=1 EXAMPLES=1 bash "benches/$script.sh" "${args[@]}" >"$log" 2>&1; then
    result="ran"
  else
    result="FAILED (exit $?)"
    failed=1
  fi
  # Processes carrying the marker: the script's own, whatever adopted them.
  left=()
  for environ in /proc/[0-9]*/environ; do
    if grep -qa "JETO_BENCH_RUN=$marker" "$environ" 2>/dev/null; then
      pid=${environ#/proc/}; pid=${pid%/environ}
      left+=("$pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)")
    fi
  done
  echo "benches/$script.sh: $result in $(( $(date +%s) - start ))s, ${#left[@]} processes left"
  if [ "$result" != ran ]; then tail -n 30 "$log" | sed 's/^/    /'; fi
  if [ ${#left[@]} -gt 0 ]; then
    failed=1
    printf '    left running: %s\n' "${left[@]}"
    for entry in "${left[@]}"; do kill -KILL "${entry%% *}" 2>/dev/null || true; done
  fi
  rm -f "$log"
done
exit "$failed"
