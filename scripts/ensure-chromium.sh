#!/usr/bin/env bash
# Debian's Chromium (and a Chinese font, so screenshots show the UI as users see it) for the
# browser tests. Installs them when missing and we may use apt.
set -uo pipefail
if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null \
    && exit 0
  echo "could not install chromium" >&2
  exit 1
fi
echo "== chromium or a Chinese font missing and apt unavailable: browser tests skip without chromium"
