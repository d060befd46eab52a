#!/usr/bin/env bash
# Build the benchmarks' own environment (fastapi-users-db-sqlalchemy 7 needs
# SQLAlchemy < 2.1, the workspace uses 2.1) and run benchmarks/run.py in it.
# Usage: benchmarks/bench.sh [--quick] [--backend sqlite|postgres|mysql]... [--skip scale|concurrency]
#        benchmarks/bench.sh --profile ARGS...   runs benchmarks/profile.py instead
#        benchmarks/bench.sh --http ARGS...      runs benchmarks/load_http.py instead (needs wrk)
# Environment: BENCH_VENV (default /tmp/bench-venv), USERSTORE_TEST_POSTGRES_URL,
# USERSTORE_TEST_MYSQL_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${BENCH_VENV:-/tmp/bench-venv}"
export UV_PYTHON_DOWNLOADS=never
[ -x "$venv/bin/python" ] || uv venv "$venv" --python 3.11
uv pip install --quiet --python "$venv" 'fastapi-users-db-sqlalchemy==7.*' \
    'sqlalchemy[asyncio]>=2.0.30,<2.1' aiosqlite asyncpg aiomysql matplotlib \
    pyinstrument py-spy uvicorn uvloop httpx -e 'protocol[fastapi-users]' \
    -e 'adapters/sqlalchemy[all]'
if [ "${1:-}" = "--profile" ]; then
    shift
    exec "$venv/bin/python" benchmarks/profile.py "$@"
fi
if [ "${1:-}" = "--http" ]; then
    shift
    exec "$venv/bin/python" benchmarks/load_http.py "$@"
fi
exec "$venv/bin/python" benchmarks/run.py "$@"
