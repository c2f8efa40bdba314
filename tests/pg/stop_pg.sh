#!/usr/bin/env bash
# Stops the PostgreSQL started by start_pg.sh STATE_DIR and removes its data.
set -euo pipefail

state=${1:?usage: stop_pg.sh STATE_DIR}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
[ -f "$state/datadir" ] || { echo "stop_pg: nothing to stop"; exit 0; }
dir=$(cat "$state/datadir")
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  as_pg=(runuser -u postgres --)
fi
status=0
if [ -f "$dir/data/postmaster.pid" ]; then
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null || status=1
fi
case "$dir" in
  */ctls-pg.*) rm -rf "$dir" ;;
esac
rm -f "$state/datadir" "$state/url"
echo "stop_pg: stopped"
exit $status
