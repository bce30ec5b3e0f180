#!/usr/bin/env bash
# Reliability: schemathesis (from PyPI) against the live server's /api/openapi.json with a
# valid key: every check, no 5xx, no response that breaks the schema.
#
#   benches/schemathesis.sh              # EXAMPLES=100 per operation by default
#
# Needs python3 with venv, vagrant and curl; installs schemathesis into a temporary venv.
EXAMPLES=${EXAMPLES:-100}
source "$(dirname "$0")/common.sh"
need vagrant python3
build_jeto
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q schemathesis
write_config "$work/jeto.toml"
start jeto "$work/jeto.out" "$jeto_bin" serve --config "$work/jeto.toml"
register "$jeto" 2 multi
"$work/venv/bin/schemathesis" --version
# /api/events is an endless stream (Server-Sent Events): a fuzzer would wait on it forever;
# tests/events.rs and the OpenAPI test cover it. Webhooks are left out: a fuzzed URL would make
# the server send deliveries off this machine; tests/webhooks.rs and the OpenAPI test cover them.
# Domains are left out for a cross-field rule the schema cannot say (a new login needs its
# password, a changed one may leave it out to keep it); tests/domains.rs and the OpenAPI test
# cover them.
"$work/venv/bin/schemathesis" run "http://$jeto/api/openapi.json" \
  --exclude-path /api/events \
  --exclude-path /api/webhooks --exclude-path '/api/webhooks/{id}' \
  --exclude-path '/api/webhooks/{id}/deliveries' --exclude-path '/api/webhooks/{id}/deliveries/{did}' \
  --exclude-path /api/domains --exclude-path '/api/domains/{id}' \
  --header "X-JETO-KEY: $key" --checks all --max-examples "$EXAMPLES" \
  --generation-deterministic --workers 2 "$@"
