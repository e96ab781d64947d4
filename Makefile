# The two commands of the README: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test lint venv migrate worker clean bench bench-accept bench-e2e bench-drain bench-inbound \
	bench-storm bench-ws bench-pacing bench-memory bench-campaigns

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# The embedded default: SQLite, in-process tasks, the simulator carrier, one daphne process
# serving HTTP and WebSockets. DEBUG is on unless you set it.
run: export DEBUG ?= true
run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) messaging_platform.asgi:application

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

migrate: venv
	$(BIN)/python manage.py migrate --noinput

worker: venv
	$(BIN)/celery -A messaging_platform worker --loglevel=INFO

# Benchmarks (bench/, written up in docs/performance.md): each brings the platform up on loopback
# with its own PostgreSQL database (bench) and Redis database (/9), runs, prints, and tears down.
bench-accept bench-e2e bench-drain bench-inbound bench-storm bench-ws bench-pacing bench-memory bench-campaigns: venv
	$(BIN)/python bench/$(subst bench-,,$@).py $(ARGS)

bench: bench-memory bench-accept bench-e2e bench-drain bench-inbound bench-storm bench-pacing bench-ws

clean:
	rm -rf $(VENV) staticfiles
