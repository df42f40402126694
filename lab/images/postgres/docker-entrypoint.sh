#!/bin/sh
# Initialise PGDATA on first start (the official postgres image's env contract), then
# run the server as the postgres user. The password reaches initdb through a 0600 file
# that is removed at once; it is never an argument.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    if [ "$(stat -c %U "$PGDATA")" != postgres ]; then
        chown -R postgres:postgres "$PGDATA"
    fi
    chown postgres:postgres /run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "docker-entrypoint: POSTGRES_PASSWORD is empty; refusing to initialise" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    chmod 0600 "$pwfile"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres -q \
            -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "docker-entrypoint: initialised $PGDATA (database $POSTGRES_DB)"
fi

if [ "${1:-postgres}" = postgres ]; then
    [ $# -gt 0 ] && shift
    exec postgres -D "$PGDATA" -c listen_addresses='*' -c jit=off "$@"
fi
exec "$@"
