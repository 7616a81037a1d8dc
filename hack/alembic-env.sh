#!/usr/bin/env bash
# A Python virtualenv with Alembic (the migration tool the patterns e2e runs as the migrating
# user), pinned, from PyPI; cached in ~/.cache/dbuser-operator/alembic-<version> (built once; a
# build that did not finish leaves no marker and is redone). Prints the venv's directory.
set -euo pipefail
ALEMBIC_VERSION=1.13.2
cache=${DBUSER_CACHE_DIR:-$HOME/.cache/dbuser-operator}
venv=$cache/alembic-$ALEMBIC_VERSION
if [ ! -f "$venv/.complete" ]; then
  mkdir -p "$cache"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "alembic==$ALEMBIC_VERSION" "SQLAlchemy==2.0.31" "psycopg2-binary==2.9.9" "Mako==1.3.5" >&2
  touch "$venv/.complete"
fi
echo "$venv"
