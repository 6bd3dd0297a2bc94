# Qinglian: two commands for a newcomer.
#   make run   set up, migrate, load the demo organisation, serve on http://127.0.0.1:8000
#   make test  lint, type check, layering, migrations check, tests on SQLite and PostgreSQL

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# PostgreSQL for the second test pass (skipped when unreachable unless REQUIRE_POSTGRES=1).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/qinglian
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run serve setup deps assets messages migrate demo test lint typecheck layers \
	migrations-check test-databases test-sqlite test-postgres browser-deps bench clean

run: setup migrate demo serve

serve:
	./scripts/serve.sh

setup: deps assets messages

deps: $(BIN)/uv
	$(BIN)/uv sync --frozen --quiet

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Front-end assets come from the npm registry (package-lock.json) and are served locally.
# ECharts: its common build (bar, line, pie …) draws the supervision dashboard's charts.
assets: node_modules/.package-lock.json
	mkdir -p qinglian/static/vendor/bootstrap qinglian/static/vendor/htmx qinglian/static/vendor/echarts
	cp node_modules/bootstrap/dist/css/bootstrap.min.css \
	   node_modules/bootstrap/dist/js/bootstrap.bundle.min.js qinglian/static/vendor/bootstrap/
	cp node_modules/htmx.org/dist/htmx.min.js qinglian/static/vendor/htmx/
	cp node_modules/echarts/dist/echarts.common.min.js node_modules/echarts/LICENSE \
	   qinglian/static/vendor/echarts/

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

messages: deps
	$(BIN)/pybabel -q compile -d qinglian/locale -D django

migrate: deps
	$(BIN)/python manage.py migrate --noinput

demo: deps
	$(BIN)/python manage.py demo_load

test: setup browser-deps lint typecheck layers migrations-check test-databases

# The SQLite and PostgreSQL passes run side by side, each in its own test database; each pass's
# output is printed whole when it ends, and either failing fails the test.
test-databases:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps
	$(BIN)/mypy qinglian config

layers: deps
	$(BIN)/lint-imports

migrations-check: deps
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

test-sqlite: deps
	@echo "== tests on SQLite"
	env -u DATABASE_URL $(BIN)/pytest

test-postgres: deps
	@if $(BIN)/python scripts/database_reachable.py "$(TEST_POSTGRES_URL)"; then \
		echo "== tests on PostgreSQL ($(TEST_POSTGRES_URL))"; \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/pytest; \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) is required but unreachable"; exit 1; \
	else \
		echo "== PostgreSQL unreachable at $(TEST_POSTGRES_URL): PostgreSQL pass skipped"; \
	fi

# Browser tests drive Debian's Chromium; it is installed from Debian's packages (never a
# browser download). Without root or apt the browser tests skip with a message.
browser-deps:
	@./scripts/ensure-chromium.sh

bench: deps
	$(BIN)/python bench/audit.py --db sqlite --events 20000
	$(BIN)/python bench/audit.py --db postgresql --events 20000
	$(BIN)/python bench/approvals.py --db sqlite --requests 100000
	$(BIN)/python bench/approvals.py --db postgresql --requests 100000
	$(BIN)/python bench/trading.py --db sqlite
	$(BIN)/python bench/trading.py --db postgresql
	$(BIN)/python bench/reports.py --db sqlite
	$(BIN)/python bench/reports.py --db postgresql
	$(BIN)/python bench/trading_warnings.py --db sqlite --contracts 20000
	$(BIN)/python bench/trading_warnings.py --db postgresql --contracts 20000
	$(BIN)/python bench/detection.py --db sqlite --rows 20000
	$(BIN)/python bench/detection.py --db postgresql --rows 200000
	$(BIN)/python bench/legacy.py --db sqlite --rows 20000
	$(BIN)/python bench/legacy.py --db postgresql

clean:
	rm -rf $(VENV) node_modules staticfiles qinglian/static/vendor var
