#!/usr/bin/env bash
# Node certificate renewal (issue 14): with `serve --node-cert-validity 40s` the agent renews its
# node certificate at 2/3 of its lifetime (+-10%) with a new key, authenticated by the current
# one; the control plane records it (nodes list, audit node.renew); an agent whose certificate
# has expired stops with a message that says to enroll again.
#   bash test_agent_renewal.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=renew.agent.test
D=$TMP/data
export CLUSTERTLS_CLIENT_CONFIG=$TMP/client.json

renews_on_its_own() {
  serve_init "$D" "$FQDN"
  start_serve "$D" "$TMP/serve.log" --node-cert-validity 40s --agent-long-poll 5s
  API_HOST=$FQDN
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" \
    --user admin --password-file "$TMP/admin.pw"
  run ctls -q nodes token create node-r --assign proxy
  cp "$OUT" "$TMP/token"
  run ctls agent enroll --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" \
    --token-file "$TMP/token" --dir "$TMP/node"
  local first first_key lifetime
  first=$(serial_hex "$TMP/node/node_cert.pem")
  first_key=$(pubkey_of_cert "$TMP/node/node_cert.pem")
  lifetime=$(($(not_after "$TMP/node/node_cert.pem") - $(not_before "$TMP/node/node_cert.pem")))
  note "node certificate $first, lifetime ${lifetime}s (40 s + the issuer's 5 min backdate)"
  timeout 300 "$CTLS" agent run --dir "$TMP/node" --metrics-file "$TMP/metrics" \
    >"$TMP/agent.log" 2>&1 </dev/null &
  local apid=$!
  register_pid "$apid"
  wait_for_match "$TMP/agent.log" 'renewed the node certificate' 40
  local second
  second=$(serial_hex "$TMP/node/node_cert.pem")
  [ "$second" != "$first" ] || fail "the node certificate was not replaced"
  [ "$(pubkey_of_cert "$TMP/node/node_cert.pem")" != "$first_key" ] || fail "renewal kept the old key"
  assert_key_matches "$TMP/node/node_cert.pem" "$TMP/node/node_key.pem"
  assert_eq "$(cn_of "$TMP/node/node_cert.pem")" node-r "renewed certificate's CN"
  ctls nodes list --json >"$TMP/nodes.json" || fail "nodes list failed"
  assert_eq "$(jq -r '.nodes[0].cert_serial' "$TMP/nodes.json")" "$second" "nodes list cert_serial"
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  jq -r '.entries[] | select(.action == "node.renew") | .actor' "$BODY" >"$TMP/renewals"
  assert_grep '^node:node-r$' "$TMP/renewals"
  # The agent keeps syncing with the new certificate.
  run ctls nodes assign node-r --names proxy,syncer
  local t0=$SECONDS
  while [ ! -e "$TMP/node/syncer_cert.pem" ] && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.2; done
  assert_file "$TMP/node/syncer_cert.pem"
  assert_grep '^clustertls_agent_node_cert_expiry_timestamp_seconds [0-9]' "$TMP/metrics"

  # Expired: stop the agent, let the certificate lapse, start it again.
  kill "$apid"
  wait "$apid" 2>/dev/null
  local left
  left=$(($(not_after "$TMP/node/node_cert.pem") - $(date +%s) + 1))
  note "waiting ${left}s for the node certificate to expire"
  [ "$left" -gt 0 ] && sleep "$left"
  expect_fail 1 'node certificate .* expired at .*enroll the node again with a new token' -- \
    ctls agent run --dir "$TMP/node"
}

section "the agent renews its node certificate; an expired one needs a new token" renews_on_its_own
finish
