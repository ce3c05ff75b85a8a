# splitguard — make test | make bench | make lint | make format | make mpy
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=

PORT ?= auto
.PHONY: help setup test bench lint format mpy clean monitor fuzz

help:
	@echo "make test    set up .venv from pyproject.toml and run the whole test suite"
	@echo "make bench   print the benchmark table (bench/)"
	@echo "make fuzz    the adversarial whole-board suite at length (FUZZ_EXAMPLES=3000)"
	@echo "make lint    ruff check + format check"
	@echo "make mpy     compile firmware/ to .mpy with mpy-cross into build/mpy"
	@echo "make monitor PORT=/dev/ttyUSB0   live view of a board (PORT=auto finds it)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The official MicroPython WebAssembly port (npm): its working GC measures heap after import.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole-board adversarial suite at length (docs/safety.md); make test runs 60 histories.
FUZZ_EXAMPLES ?= 3000
fuzz: $(STAMP)
	SPLITGUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider \
		tests/host/test_board_adversarial.py tests/host/test_command_fuzz.py \
		tests/host/test_supervisor_properties.py --hypothesis-show-statistics

bench: $(STAMP) $(NODE_STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

mpy: $(STAMP)
	$(PY) -m host_tools.mpy build/mpy

monitor: $(STAMP)
	$(VENV)/bin/splitguard monitor --port $(PORT)

# --- flashing, the virtual board and the demo (docs/virtual-board.md, docs/hil-rig.md) ---------
# make flash PORT=/dev/ttyUSB0 [BOARD=esp32_devkitc]   (PORT=auto finds a board; a virtual
# board's pty works the same). make demo: the virtual board end to end; make demo PORT=...:
# flash that real board and open the monitor. make vboard [SCENARIO=name] [SPEED=60]: a virtual
# board on build/vboard/tty until Ctrl-C.
BOARD ?=
SPEED ?= 60
SCENARIO ?=
.PHONY: flash demo vboard

flash: $(STAMP)
	$(PY) -m host_tools.cli flash --port $(PORT) $(if $(BOARD),--board $(BOARD))

demo: $(STAMP) $(NODE_STAMP)
	$(PY) -m host_tools.cli demo $(if $(filter command line,$(origin PORT)),--port $(PORT) $(if $(BOARD),--board $(BOARD)))

vboard: $(STAMP) $(NODE_STAMP)
	$(PY) -m host_tools.cli vboard --link build/vboard/tty --speed $(SPEED) $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(BOARD),--board $(BOARD))

clean:
	rm -rf build .pytest_cache .ruff_cache
