# MusicMood: the two commands are `make run` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
HOST   ?= 127.0.0.1
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/15
export DATABASE_URL_TEST ?= postgres://postgres:postgres@127.0.0.1:5432/musicmood
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run run-scaled setup-site test lint bench bench-peer clean system-deps redis postgres

$(VENV)/.installed: requirements.txt scripts/install_detector.py scripts/install_browser_runtime.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) scripts/install_detector.py
	$(PY) scripts/install_browser_runtime.py
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# migrate, load the default playlists, collect static files, clear expired admin sessions
setup-site: $(VENV)/.installed
	MUSICMOOD_DEV=1 $(PY) manage.py migrate --noinput
	MUSICMOOD_DEV=1 $(PY) manage.py load_defaults
	MUSICMOOD_DEV=1 $(PY) manage.py collectstatic --noinput --verbosity 0
	MUSICMOOD_DEV=1 $(PY) manage.py clearsessions
	@echo "Admin at http://$(HOST):$(PORT)/admin/ (make an account once: MUSICMOOD_DEV=1 $(PY) manage.py createsuperuser)"

## run: install, set up and serve http://$(HOST):$(PORT) in the embedded mode
run: setup-site
	@echo "MusicMood on http://$(HOST):$(PORT)  (Ctrl-C stops it)"
	MUSICMOOD_DEV=1 $(PY) -m musicmood.serve -b $(HOST) -p $(PORT)

## run-scaled: the same site scaled out: Redis (started when none answers), a Celery worker, the web process
run-scaled: setup-site
	@command -v redis-server >/dev/null || bash scripts/ensure_redis.sh --install-only
	MUSICMOOD_DEV=1 HOST=$(HOST) PORT=$(PORT) $(PY) -m musicmood.stack

## test: install what the tests need (Python packages, Chromium), make sure Redis answers, run all
test: $(VENV)/.installed-test system-deps redis postgres
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

system-deps:
	bash scripts/ensure_system_deps.sh

redis:
	bash scripts/ensure_redis.sh "$(REDIS_URL_TEST)"

postgres:
	bash scripts/ensure_postgres.sh "$(DATABASE_URL_TEST)"

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-test system-deps redis
	$(PY) bench/model.py
	$(PY) bench/pipeline.py
	$(PY) bench/ondevice.py
	$(PY) bench/train_step.py

## bench-peer: the peer library `fer` beside ours on the same frames (installs it, without its dependencies)
bench-peer: $(VENV)/.installed-test
	$(PY) -m pip install --quiet --no-deps fer==25.10.3
	$(PY) bench/peer.py --fer ../shared/datasets/fer2013

clean:
	rm -rf $(VENV) staticfiles static/vendor .pytest_cache test-output
