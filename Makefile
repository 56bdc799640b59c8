# The two set-up commands: `make demo` and `make test`. Both work on a fresh Debian machine as root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/dev.lock
DEMO_ARGS ?=

# command:debian-package pairs installed with apt-get where the command is missing.
SYS_DEMO := ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng
SYS_TEST := $(SYS_DEMO) mosquitto:mosquitto chromium:chromium mpg123:mpg123 aplay:alsa-utils \
            icecast2:icecast2

.PHONY: demo test lint typecheck pytest install sysdeps-demo sysdeps-test lock schemas clean bench-deps

demo: sysdeps-demo install
	$(BIN)/loa demo $(DEMO_ARGS)

test: sysdeps-test install lint typecheck pytest

install: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r $(LOCK)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
	  --config-settings editable_mode=compat -e .
	$(BIN)/python -m pip check
	touch $@

sysdeps-%:
	@missing=""; \
	for pair in $(SYS_$(shell echo $* | tr a-z A-Z)); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy loa controller node_agent audio schedules

# Two workers (the machine has two cores; most tests wait on real processes and clocks), each
# test file on one worker, since some files share a commune across their tests.
pytest: install
	$(BIN)/pytest -n 2 --dist loadfile

# What the benchmarks under bench/ need beyond the tests (viet-asr for intelligibility).
bench-deps: install
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/bench.lock

# Regenerate the lock files after changing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.lock
	uv pip compile pyproject.toml --extra node --python-version 3.11 -o requirements/node.lock
	uv pip compile pyproject.toml --extra bench --python-version 3.11 -o requirements/bench.lock

schemas: install
	$(BIN)/python -m loa.schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
