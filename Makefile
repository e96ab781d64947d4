# The two commands of the README: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint venv dev-venv migrate worker clean bench bench-accept bench-e2e bench-drain bench-inbound \
	bench-storm bench-ws bench-pacing bench-memory bench-campaigns bench-smpp bench-insights bench-scale \
	bench-faults

# `make run` installs only what running needs; tests, lint and benchmarks add the development tools.
$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

venv: $(STAMP)
dev-venv: $(DEV_STAMP)

# The embedded default: SQLite, in-process tasks, the simulator carrier, one daphne process
# serving HTTP and WebSockets. DEBUG is on unless you set it.
run: export DEBUG ?= true
# Emailed links (invitations, password reset) start with PUBLIC_BASE_URL: the address of this server.
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: venv
	$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python -m messaging_platform.announce http://127.0.0.1:$(PORT) &
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) messaging_platform.asgi:application

test: dev-venv
	$(BIN)/python -m pytest


lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=true $(BIN)/mypy accounts workspaces numbers messaging messaging_platform
	$(BIN)/python -m pytest -q -p no:cacheprovider messaging_platform/tests/test_architecture.py

migrate: venv
	$(BIN)/python manage.py migrate --noinput

worker: venv
	$(BIN)/celery -A messaging_platform worker --loglevel=INFO

# Benchmarks (bench/, written up in docs/performance.md): each brings the platform up on loopback
# with its own PostgreSQL database (bench) and Redis database (/9), runs, prints, and tears down.
bench-accept bench-e2e bench-drain bench-inbound bench-storm bench-ws bench-pacing bench-memory bench-campaigns bench-smpp \
	bench-insights bench-scale bench-faults: dev-venv
	$(BIN)/python bench/$(subst bench-,,$@).py $(ARGS)

bench: bench-memory bench-accept bench-e2e bench-drain bench-inbound bench-storm bench-pacing bench-ws bench-smpp

clean:
	rm -rf $(VENV) staticfiles
