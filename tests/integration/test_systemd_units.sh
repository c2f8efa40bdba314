#!/usr/bin/env bash
# The systemd units shipped in packaging/systemd/ (issue 14): `systemd-analyze verify` accepts
# them with no warning (an unknown key or a bad value is only a warning there, so the test also
# requires an empty stderr), with ExecStart pointed at the built binary.
#   bash test_systemd_units.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

verify_units() {
  command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (scripts/setup installs systemd)"
  local u
  for u in clustertls-serve.service clustertls-agent.service; do
    assert_file "$REPO/packaging/systemd/$u"
    sed "s|/usr/local/bin/clustertls|$CTLS|" "$REPO/packaging/systemd/$u" >"$TMP/$u"
  done
  timeout 60 systemd-analyze verify "$TMP/clustertls-serve.service" "$TMP/clustertls-agent.service" \
    >"$OUT" 2>"$ERR"
  local rc=$?
  assert_eq "$rc" 0 "systemd-analyze verify exit status ($(cat "$ERR"))"
  [ ! -s "$ERR" ] || fail "systemd-analyze verify warned: $(cat "$ERR")"
  # The commands the units run are commands this binary has.
  run ctls serve --help
  out_has '--data-dir'
  run ctls agent run --help
  out_has '--on-change'
  # A unit with a mistake is caught by this check (the check can fail).
  sed 's/^Restart=on-failure/Restrat=on-failure/' "$TMP/clustertls-serve.service" >"$TMP/bad.service"
  timeout 60 systemd-analyze verify "$TMP/bad.service" >"$OUT" 2>"$ERR"
  assert_grep "Unknown key 'Restrat'" "$ERR"
  note "both units verify cleanly; a misspelt key is reported"
}

section "systemd units verify" verify_units
finish
