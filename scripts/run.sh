#!/usr/bin/env bash
# The main job: set everything up, then run the default game across 8 instances.
# Extra arguments go to `vecbridge run` (e.g. scripts/run.sh --seconds 30).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/vecbridge run vecbridge/Catch-v0 --num-envs 8 "$@"
