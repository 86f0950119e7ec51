# Two commands do all setup: `make demo` and `make test`. Both run `make setup` first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gankit-installed
DEMO_OUT ?= runs/demo

.PHONY: setup demo test lint clean

setup: $(STAMP)

# torch==2.13.0 is installed first on its own: pip takes the CPU wheel from the local
# wheel store, so setup never pulls a multi-GB CUDA build. torchvision is not needed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/gankit train --preset demo --seed 0 --device cpu --overwrite --out $(DEMO_OUT)
	$(VENV)/bin/gankit sample $(DEMO_OUT) --n 64 --seed 1 --out $(DEMO_OUT)/final_grid.png

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) runs
