# Sourced by .ci/run: a throwaway cluster of Debian's PostgreSQL on a loopback port, set up
# with the README's own commands (its blocks marked <!-- ci:... -->, see readme_block.py).
# Leaves DATABASE_URL, MIGRATION_DATABASE_URL, ... exported as the README says.
# own_server_start sets what the README's step 0 has the reader choose (DB_HOST, DB_PORT,
# the passwords, SECRET_KEY); the passwords carry URL-special characters on purpose.

own_server_start() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  OWN_PG_BIN=$bindir
  OWN_PG_ROOT=$(mktemp -d /tmp/beep-own-pg.XXXXXX)
  chmod 755 "$OWN_PG_ROOT"
  DB_HOST=127.0.0.1
  DB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  special() { python3 -c 'import secrets; print("p@ss/w#rd:1%?" + secrets.token_hex(8))'; }
  OWNER_PASSWORD=$(special)
  APP_PASSWORD=$(special)
  BYPASS_PASSWORD=$(special)
  AUTH_PASSWORD=$(special)
  SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
  export DB_HOST DB_PORT OWNER_PASSWORD APP_PASSWORD BYPASS_PASSWORD AUTH_PASSWORD SECRET_KEY
  [ "$(id -u)" = 0 ] && chown postgres: "$OWN_PG_ROOT"
  as_postgres "$bindir/initdb" -D "$OWN_PG_ROOT/data" -U postgres --auth-local=peer \
    --auth-host=scram-sha-256 >/dev/null
  as_postgres "$bindir/pg_ctl" -D "$OWN_PG_ROOT/data" -l "$OWN_PG_ROOT/log" -w \
    -o "-c listen_addresses=$DB_HOST -p $DB_PORT -k $OWN_PG_ROOT -c max_connections=200" start >/dev/null
  "$bindir/postgres" --version
}

own_server_stop() {
  [ -n "${OWN_PG_ROOT:-}" ] || return 0
  as_postgres "$OWN_PG_BIN/pg_ctl" -D "$OWN_PG_ROOT/data" -m fast -w stop >/dev/null || true
  rm -rf "$OWN_PG_ROOT"
}

as_postgres() {  # PostgreSQL refuses root; Debian's package made the postgres user
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

own_server_psql() {  # the superuser, over the unix socket
  as_postgres "$OWN_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$OWN_PG_ROOT" -p "$DB_PORT" \
    -U postgres -d postgres "$@"
}

own_server_setup_as_readme() {
  python3 .ci/readme_block.py own-server-roles \
    | own_server_psql -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" -f -
  python3 .ci/readme_block.py own-server-bypass \
    | own_server_psql -d beep -v bypass_password="$BYPASS_PASSWORD" -f -
  python3 .ci/readme_block.py own-server-better-auth \
    | own_server_psql -d beep -v auth_password="$AUTH_PASSWORD" -f -
  eval "$(python3 .ci/readme_block.py own-server-env)"
  bash -euxo pipefail -c "$(python3 .ci/readme_block.py own-server-migrate)"
  # Step 6 in a shell of its own: its HTTPS settings would redirect the test client.
  bash -euo pipefail -c "$(python3 .ci/readme_block.py own-server-deploy)"
  eval "$(python3 .ci/readme_block.py own-server-test)"
}
