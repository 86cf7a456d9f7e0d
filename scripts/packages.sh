#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing:
# cmake (libopus is built from source), nasm (OpenH264's fast paths), the xcb headers scrap links
# against, the ALSA headers (microphone and speaker), Xvfb (a display for capture and input tests),
# ffmpeg (ffprobe checks recordings) and chromium with its WebDriver (the browser tests), and
# python3-aiosmtpd (a real SMTP server for the tests of invitations by e-mail).
set -euo pipefail
packages=(cmake nasm pkg-config libasound2-dev libxcb1-dev libxcb-shm0-dev libxcb-randr0-dev xvfb ffmpeg chromium chromium-driver python3-aiosmtpd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
