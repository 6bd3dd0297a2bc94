#!/usr/bin/env bash
# Debian's Chromium for the browser tests. Installs it when missing and we may use apt.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
    && exit 0
  echo "could not install chromium" >&2
  exit 1
fi
echo "== /usr/bin/chromium missing and apt unavailable: browser tests will be skipped"
