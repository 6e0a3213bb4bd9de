#!/usr/bin/env bash
# Installs BizHawk (EmuHawk) for vecbridge's BizHawk backend on Debian/Ubuntu x86_64:
#   - Mono 6.12 from the Mono project's apt repository (BizHawk asks for 6.12; Debian ships 6.8),
#     with the libraries EmuHawk loads (OpenAL, SDL2, lsb-release) and Xvfb + xauth (EmuHawk is a
#     WinForms program: headless, vecbridge runs it under xvfb-run);
#   - the official Linux release BizHawk-<version>-linux-x64.tar.gz from GitHub into DEST.
#
# Usage: scripts/install-bizhawk.sh [--dry-run] [VERSION] [DEST]
#   VERSION  2.10 (default) or 2.9.1 (2.9.0's Lua does not work on Linux; use 2.9.1 or later)
#   DEST     default: ~/.local/share/vecbridge/BizHawk-VERSION
#   --dry-run  print the commands instead of running them (needs no network, no root)
# Then: export BIZHAWK_DIR=DEST (bizhawk_spec(..., emuhawk=DEST) works too).
#
# This needs the internet (GitHub, download.mono-project.com, keyserver.ubuntu.com) and root
# (or sudo) for apt. It is NOT run by vecbridge's tests or CI: the machines vecbridge is
# developed on have no internet beyond package registries, so BizHawk has never run there.
# Set BIZHAWK_SHA256 to the release's published checksum to have the download verified.
set -euo pipefail

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
VERSION="${1:-2.10}"
DEST="${2:-$HOME/.local/share/vecbridge/BizHawk-$VERSION}"
URL="https://github.com/TASEmulators/BizHawk/releases/download/$VERSION/BizHawk-$VERSION-linux-x64.tar.gz"
MONO_KEY=3FA7E0328081BFF6A14DA29AA6A19B38D3D831EF
MONO_KEYRING=/usr/share/keyrings/mono-official-archive-keyring.gpg
MONO_LIST=/etc/apt/sources.list.d/mono-official-stable.list
PACKAGES=(mono-complete libopenal1 libsdl2-2.0-0 lsb-release xvfb xauth ca-certificates curl)

case "$VERSION" in
  2.9|2.9.0) echo "install-bizhawk: BizHawk 2.9.0's Lua does not work on Linux; use 2.9.1 or later" >&2; exit 2 ;;
  2.9.1|2.10|2.10.*|2.1[1-9]*) ;;
  *) echo "install-bizhawk: vecbridge's launcher is checked against BizHawk 2.9.1 and 2.10's command line; got $VERSION" >&2 ;;
esac

run() {  # a command, or its text with --dry-run
  if [ "$DRY" = 1 ]; then printf '%s\n' "$*"; else "$@"; fi
}
SUDO=""
if [ "$DRY" = 0 ] && [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "$DRY" = 0 ]; then
  [ "$(uname -sm)" = "Linux x86_64" ] || { echo "install-bizhawk: BizHawk's Linux release is for Linux x86_64" >&2; exit 2; }
  command -v apt-get >/dev/null || { echo "install-bizhawk: needs apt-get (Debian/Ubuntu); install Mono 6.12 and the packages ${PACKAGES[*]} yourself, then unpack $URL" >&2; exit 2; }
fi

# 1. Mono 6.12 from the Mono project (Debian's mono-complete is 6.8)
if [ "$DRY" = 1 ] || ! mono --version 2>/dev/null | grep -q "version 6\.12"; then
  run $SUDO apt-get update -qq
  run $SUDO apt-get install -y -qq --no-install-recommends gnupg ca-certificates dirmngr
  run $SUDO gpg --batch --homedir /tmp/install-bizhawk-gnupg --no-default-keyring --keyring "gnupg-ring:$MONO_KEYRING" \
    --keyserver hkp://keyserver.ubuntu.com:80 --recv-keys "$MONO_KEY"
  run $SUDO chmod 644 "$MONO_KEYRING"
  run $SUDO rm -rf /tmp/install-bizhawk-gnupg
  if [ "$DRY" = 1 ]; then
    echo "echo 'deb [signed-by=$MONO_KEYRING] https://download.mono-project.com/repo/debian stable-buster main' | $SUDO tee $MONO_LIST"
  else
    echo "deb [signed-by=$MONO_KEYRING] https://download.mono-project.com/repo/debian stable-buster main" | $SUDO tee "$MONO_LIST" >/dev/null
  fi
fi
run $SUDO apt-get update -qq
run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

# 2. BizHawk's official Linux release
TARBALL="${TMPDIR:-/tmp}/BizHawk-$VERSION-linux-x64.tar.gz"
run mkdir -p "$DEST"
run curl -fL --retry 3 -o "$TARBALL" "$URL"
if [ -n "${BIZHAWK_SHA256:-}" ]; then
  if [ "$DRY" = 1 ]; then echo "echo '$BIZHAWK_SHA256  $TARBALL' | sha256sum -c -"
  else echo "$BIZHAWK_SHA256  $TARBALL" | sha256sum -c -; fi
fi
run tar -xzf "$TARBALL" -C "$DEST"
run rm -f "$TARBALL"

if [ "$DRY" = 0 ]; then
  [ -f "$DEST/EmuHawk.exe" ] || { echo "install-bizhawk: $DEST/EmuHawk.exe is missing after unpacking $URL" >&2; exit 1; }
  mono --version | head -1
fi
echo "install-bizhawk: BizHawk $VERSION is in $DEST"
echo "  export BIZHAWK_DIR=$DEST"
echo "  python -c \"from vecbridge.backends.bizhawk import bizhawk_spec; import vecbridge; envs = vecbridge.make(bizhawk_spec('processor.lua', rom='game.nes'), num_envs=2)\""
