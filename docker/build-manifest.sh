#!/usr/bin/env bash
# Build the dbt manifest (dbt_project/target/manifest.json) for the image.
#
# Runs at image build time (Dockerfile, stage `build`) so containers start with a
# parsed project instead of running `dbt parse` on every start. Works the same on
# a host: put the environment's bin folder first on PATH, e.g.
#     PATH="$PWD/.venv/bin:$PATH" docker/build-manifest.sh
#
# Environment (optional):
#   PYTHON           interpreter to use (default: `python` on PATH)
#   MLOPS_APP_DIR    the app folder holding mlops_assets/ and dbt_project/
#                    (default: the parent of this script's folder)
#   MLOPS_DBT_TARGET dbt target the manifest is parsed for (default: duckdb)
set -euo pipefail

APP_DIR="${MLOPS_APP_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PYTHON="${PYTHON:-python}"

cd "$APP_DIR"
# The package imported is the one in APP_DIR (it locates dbt_project/ next to itself).
export PYTHONPATH="$APP_DIR${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" -m mlops_assets.defs.transform.project --force

manifest="$APP_DIR/dbt_project/target/manifest.json"
if [[ ! -s "$manifest" ]]; then
    echo "build-manifest: $manifest was not written" >&2
    exit 1
fi
echo "build-manifest: wrote $manifest"
