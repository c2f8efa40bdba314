#!/usr/bin/env bash
# Runs a command with CTLS_TEST_PG_URL set to the server start_pg.sh STATE_DIR started.
#   run_with_pg.sh STATE_DIR COMMAND [ARGS...]
# Fails if there is no server: the PostgreSQL tests are never silently skipped.
set -euo pipefail
state=${1:?usage: run_with_pg.sh STATE_DIR COMMAND...}
shift
[ -s "$state/url" ] || { echo "run_with_pg: no PostgreSQL running ($state/url missing; pg_start failed?)" >&2; exit 1; }
CTLS_TEST_PG_URL=$(cat "$state/url")
export CTLS_TEST_PG_URL
exec "$@"
