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

.PHONY: demo test lint typecheck pytest install sysdeps-demo sysdeps-test python-version lock schemas clean bench-deps

demo: sysdeps-demo install
	$(BIN)/loa demo $(DEMO_ARGS)

test: sysdeps-test install lint typecheck pytest

install: python-version $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r $(LOCK)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
	  --config-settings editable_mode=compat -e .
	$(BIN)/python -m pip check
	touch $@

# Explicit targets, not a pattern rule: make never searches implicit rules for a .PHONY target,
# so `sysdeps-%` never ran (tests/test_setup_commands.py runs these recipes for real).
sysdeps-demo: python-version
	@sh scripts/sysdeps.sh $(SYS_DEMO)

sysdeps-test: python-version
	@sh scripts/sysdeps.sh $(SYS_TEST)

python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Loa needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1 || echo missing)." >&2; \
	  exit 1; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy loa controller node_agent audio schedules

# Four workers on the two cores: most tests wait on real processes and clocks (two workers
# kept the CPU under half busy). Each test file on one worker, since some files share a
# commune across their tests. Tests that wait on time must allow for a loaded machine.
pytest: install
	$(BIN)/pytest -n 4 --dist loadfile

# What the benchmarks under bench/ need beyond the tests (viet-asr for intelligibility).
bench-deps: install
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/bench.lock

# The loa wheel and sdist in dist/ (offline: the venv's setuptools). A controller serves a joining
# Pi the wheel of its own version (controller/services/node_dist.py, docs/node.md).
.PHONY: dist
dist: install
	rm -f dist/loa-*.whl dist/loa-*.tar.gz
	$(BIN)/python -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w dist .
	$(BIN)/python -c 'from setuptools import build_meta as b; b.build_sdist("dist")'
	@ls dist/loa-*

# Regenerate the lock files after changing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.lock
	uv pip compile pyproject.toml --extra node --python-version 3.11 -o requirements/node.lock
	uv pip compile pyproject.toml --extra bench --python-version 3.11 -o requirements/bench.lock

schemas: install
	$(BIN)/python -m loa.schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
