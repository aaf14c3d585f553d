#!/bin/sh
# First start: a cluster whose superuser is $POSTGRES_USER and a database $POSTGRES_DB. Trust
# authentication: reachable only on the deployment's private network (set POSTGRES_PASSWORD
# for scram-sha-256 instead; database_url then carries the password).
set -eu
: "${POSTGRES_USER:=outlayer}" "${POSTGRES_DB:=outlayer}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    initdb -U "$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    rm -f /tmp/pwfile
  else
    initdb -U "$POSTGRES_USER" --auth=trust -D "$PGDATA"
  fi
  echo "host all all 0.0.0.0/0 ${POSTGRES_PASSWORD:+scram-sha-256}${POSTGRES_PASSWORD:-trust}" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  createdb -U "$POSTGRES_USER" "$POSTGRES_DB" 2>/dev/null || true
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections="${POSTGRES_MAX_CONNECTIONS:-300}"
