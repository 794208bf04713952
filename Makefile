# Two entry points a new user needs (see README): `make demo` and `make test`.
# Each creates its own virtual environment in .venv from the package registry.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIMGPT_MODELS := gpt2-small gpt2-medium gpt2-large gpt2-xl gpt3-small gpt3-medium gpt3-large gpt3-xl

.PHONY: demo test bench venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# The main job: the per-phase FLOP/byte accounting of the 8 PIM-GPT models.
demo: venv
	$(VENV)/bin/pimsim workload explain --workload generate --prompt 64 --generate 960 \
	  $(foreach m,$(PIMGPT_MODELS),--model $(m)) --csv results/pimgpt_accounting.csv

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) -m pytest benchmarks --benchmark-enable -q

clean:
	rm -rf $(VENV) results .pytest_cache .benchmarks
