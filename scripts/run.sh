#!/usr/bin/env bash
# The main job: set everything up, then train PPO on the default game (Catch) across
# 8 instances; it prints the throughput and where the model and learning curve are.
# Extra arguments go to `vecbridge train` (e.g. scripts/run.sh --timesteps 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/vecbridge train vecbridge/Catch-v0 --num-envs 8 --timesteps 50000 "$@"
