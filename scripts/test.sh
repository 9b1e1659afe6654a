#!/usr/bin/env bash
# Runs the whole suite on SQLite, then on PostgreSQL + Redis.
# Without those servers the second run is skipped (and said so); under CI=true it is required.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_ADMIN_URL=${TEST_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
export TEST_PG_ADMIN_URL=$PG_ADMIN_URL
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
unset PG_URL REDIS_URI NODE_ENV APP_ENV

# The chain tests run anvil from node_modules (root package.json; Node.js 20+).
if command -v npm >/dev/null 2>&1; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== npm ci (anvil and solc for the chain tests)"
    npm ci --no-audit --no-fund || exit 1
  fi
else
  echo "!! Node.js/npm not found: the chain tests skip (under CI=true they fail)"
fi

echo "== lint: ruff + mypy"
$BIN/ruff check src tests bench migrations || exit 1
$BIN/ruff format --check src tests bench migrations || exit 1
$BIN/mypy || exit 1

echo "== suite 1/2: SQLite"
BAZAAR_TEST_BACKEND=sqlite $BIN/python -m pytest "$@"
sqlite_rc=$?

services_up() {
  $BIN/python - <<PY
import asyncio, sys
import asyncpg, redis.asyncio as r
async def main():
    try:
        conn = await asyncpg.connect("$PG_ADMIN_URL", timeout=3); await conn.close()
        c = r.from_url("$TEST_REDIS_URL", socket_connect_timeout=3); await c.ping(); await c.aclose()
    except Exception as exc:
        print(f"   not reachable: {exc}"); sys.exit(1)
asyncio.run(main())
PY
}

if services_up; then
  echo "== suite 2/2: PostgreSQL + Redis"
  BAZAAR_TEST_BACKEND=postgresql $BIN/python -m pytest "$@"
  pg_rc=$?
elif [ "${CI:-}" = "true" ]; then
  echo "!! PostgreSQL/Redis are required under CI=true and are not reachable"
  pg_rc=1
else
  echo "!! SKIPPED suite 2/2: PostgreSQL + Redis are not reachable on this machine."
  echo "!! Only the SQLite suite ran. Start them (see README) to run both."
  pg_rc=0
fi

echo "== results: sqlite=$sqlite_rc postgresql=$pg_rc"
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
