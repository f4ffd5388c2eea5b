# Two commands: `make demo` (the main job on the built-in sample incident) and
# `make test`. Both set themselves up: system packages, virtualenv, services.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?= --durations=25

.PHONY: demo test install sysdeps-demo sysdeps-test bench clean

# setup.py and the C source: a changed extension is rebuilt (pip install -e compiles it in place)
$(STAMP): pyproject.toml setup.py forensics/windows/_evtxrow.c forensics/logs/_eventid.c forensics/logs/_linescan.c forensics/native/eventid_sha.h case_store/_isotime.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: sysdeps-demo $(STAMP)

sysdeps-demo:
	bash scripts/install-system-deps.sh demo

sysdeps-test:
	bash scripts/install-system-deps.sh test

demo: sysdeps-demo $(STAMP)
	$(BIN)/cyberclaim demo $(DEMO_ARGS)

test: sysdeps-test $(STAMP)
	CYBERCLAIM_TEST_PG_URL="$$(bash scripts/pg-test-server.sh start)" \
	  $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
	  rc=$$?; bash scripts/pg-test-server.sh stop; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info
