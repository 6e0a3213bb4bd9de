#!/usr/bin/env bash
# The main job: set everything up, then train PPO on Escape from Pong (the NES game `efp`) in
# 8 headless FCEUX instances, and end with the trained policy's score against the random
# policy's (both evaluated the same way), the throughput, and where the model, TensorBoard
# logs and learning curve are. About 10 minutes on 2 cores after set-up.
#
#   scripts/run.sh                         Escape from Pong (RAM values, MLP policy)
#   scripts/run.sh --game catch            the small built-in game Catch instead (a minute or two)
#   scripts/run.sh --timesteps 300000      extra arguments go to `vecbridge train` (later ones win)
#
# Why these settings: docs/results.md ("The main job").
set -euo pipefail
cd "$(dirname "$0")/.."

game=pong
case "${1:-}" in
  --game) game="${2:?scripts/run.sh: --game needs a name: pong or catch}"; shift 2 ;;
  --game=*) game="${1#--game=}"; shift ;;
esac
case "$game" in
  pong|escape-from-pong)
    args=(vecbridge/EscapeFromPong-v0 --num-envs 8 --timesteps 100000
          -o observation_type=value --max-episode-steps 1000 --normalize --ppo ent_coef=0.01
          --checkpoint-freq 0 --eval-episodes 8) ;;
  catch)
    args=(vecbridge/Catch-v0 --num-envs 8 --timesteps 50000 --eval-episodes 16) ;;
  *)
    echo "scripts/run.sh: unknown game '$game' (pong or catch)" >&2
    exit 2 ;;
esac

if [[ -n "${VECBRIDGE_RUN_DRY:-}" ]]; then  # print the command instead (tests)
  printf '%q ' .venv/bin/vecbridge train "${args[@]}" "$@"
  echo
  exit 0
fi
scripts/setup.sh
exec .venv/bin/vecbridge train "${args[@]}" "$@"
