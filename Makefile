# The README's two opening commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5006
# two pytest workers, each taking whole files (a file's module-scoped server starts once)
PYTEST_WORKERS ?= -n 2 --dist loadfile
LINT_PATHS := streamvis apps examples tests bench

.PHONY: demo test test-offline lint bench chromium clean

demo: $(VENV)/.installed  ## create the venv, install, serve the training demo on 127.0.0.1:$(PORT)
	$(BIN)/streamvis demo --port $(PORT)

test: lint chromium  ## install test needs (Debian chromium too), run the lint checks, then every test
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: no tests collected

test-offline: $(VENV)/.installed-test chromium  ## the same suite after the installs, with no network but loopback
	@if [ "$$(id -u)" = 0 ]; then NS="unshare --net"; else NS="unshare --net --mount --map-root-user"; fi; \
	  $$NS sh -c 'ip link set lo up && $(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)'

lint: $(VENV)/.installed-test  ## ruff check, ruff format --check, mypy --strict ([tool.mypy] files); make test runs it first
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

chromium:  ## Debian's chromium drives the browser tests (never a downloaded browser); nginx and openssl run docs/security.md's proxy; redis-server the Redis store's tests
	@{ test -x /usr/bin/chromium && test -x /usr/sbin/nginx && command -v openssl >/dev/null && test -x /usr/bin/redis-server; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium nginx-light openssl redis-server; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
