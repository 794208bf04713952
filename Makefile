# Two entry points a new user needs (see README): `make demo` and `make test`.
# Each creates its own virtual environment in .venv from the package registry.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pimsim.dram.kernel
	touch $@

# the install also builds the command engine's native kernel (one progress line, ~5-12 s), so the first
# command after it starts warm; `python -m pimsim.dram.kernel` does it again after an edit of the kernel
venv: $(VENV)/.installed

# The main job: the PIM-GPT reproduction (8 GPT models vs T4, H100 and Xeon), with plots.
demo: venv
	$(VENV)/bin/pimsim run experiments/pimgpt_speedup.yaml --out results/pimgpt_speedup

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) -m pytest benchmarks --benchmark-enable -o python_files='bench_*.py' -q

clean:
	rm -rf $(VENV) results .pytest_cache .benchmarks
