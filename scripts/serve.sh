#!/usr/bin/env bash
# The web server and the background-job worker side by side; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python manage.py run_huey --quiet &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Qinglian: http://127.0.0.1:8000  (background worker pid $worker)"
.venv/bin/python manage.py runserver 127.0.0.1:8000
