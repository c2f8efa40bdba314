#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 on 127.0.0.1 for the store tests (ctest fixture "postgres").
#   start_pg.sh STATE_DIR
# Writes STATE_DIR/url (postgres://ctls:<pw>@127.0.0.1:<port>/ctls_test) and STATE_DIR/datadir
# (a temp dir holding the cluster). Fails — never skips — if the server cannot be started.
# As root the server runs as the `postgres` user. stop_pg.sh STATE_DIR stops it.
set -euo pipefail

state=${1:?usage: start_pg.sh STATE_DIR}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
mkdir -p "$state"
state=$(cd "$state" && pwd)

die() { echo "start_pg: $*" >&2; exit 1; }

[ -x "$bindir/initdb" ] || die "PostgreSQL 15 is not installed ($bindir/initdb missing; run scripts/setup)"

# A previous run that was not cleaned up.
if [ -f "$state/datadir" ]; then
  bash "$(dirname "$0")/stop_pg.sh" "$state" || true
fi
rm -f "$state/url" "$state/datadir"

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' user"
  as_pg=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/ctls-pg.XXXXXX")
chmod 700 "$dir"
echo "$dir" > "$state/datadir"
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" > "$dir/pwfile"
if [ ${#as_pg[@]} -gt 0 ]; then
  chown -R postgres: "$dir"
fi

"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U ctls --pwfile="$dir/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
rm -f "$dir/pwfile"

# A free port: try random ones until the server starts (another test may take one meanwhile).
started=""
for attempt in 1 2 3 4 5 6 7 8; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ))
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    continue  # something listens there
  fi
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=50" \
      start >/dev/null 2>&1; then
    started=$port
    break
  fi
  echo "start_pg: port $port failed (attempt $attempt):" >&2
  tail -n 3 "$dir/server.log" >&2 || true
done
[ -n "$started" ] || die "could not start PostgreSQL (see $dir/server.log)"

"${as_pg[@]}" "$bindir/createdb" -h "$dir" -p "$started" -U ctls ctls_test \
  || die "createdb failed"
echo "postgres://ctls:$password@127.0.0.1:$started/ctls_test" > "$state/url"
chmod 600 "$state/url"
echo "start_pg: PostgreSQL 15 on 127.0.0.1:$started (data in $dir)"
