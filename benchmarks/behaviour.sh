#!/usr/bin/env bash
# Build the behaviour comparison's own environment (fastapi-users-db-sqlalchemy 7 needs
# SQLAlchemy < 2.1, the workspace uses 2.1) and run benchmarks/behaviour.py in it.
# Usage: benchmarks/behaviour.sh [--backend sqlite|postgres|mysql]... [--output PATH]
# Environment: BEHAVIOUR_VENV (default /tmp/bh-venv), USERSTORE_TEST_POSTGRES_URL,
# USERSTORE_TEST_MYSQL_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${BEHAVIOUR_VENV:-/tmp/bh-venv}"
export UV_PYTHON_DOWNLOADS=never
[ -x "$venv/bin/python" ] || uv venv "$venv" --python 3.11
uv pip install --quiet --python "$venv" 'fastapi-users-db-sqlalchemy==7.*' \
    aiosqlite asyncpg aiomysql -e protocol -e adapters/sqlalchemy
exec "$venv/bin/python" benchmarks/behaviour.py "$@"
