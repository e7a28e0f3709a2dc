# The two commands: `make demo` (run the atlas, write the report) and `make test`.
# Setup installs the CPU build of torch first, so that no multi-GB CUDA build is pulled.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.mathdl-installed

.PHONY: setup demo test lint bench bench-peers clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mathdl reproduce --preset quick

test: $(STAMP)
	bash .ci/ensure-chromium
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/approximation_interpolation.py
	$(BIN)/python benchmarks/kernels_vs_neural_tangents.py

# The peers need pinned JAX releases: a separate environment, never a dependency of mathdl.
# DeepXDE (PyTorch backend) and diffusers get their own environments too, with the CPU torch
# installed first.
PEERS := .venv-peers
DEEPXDE := .venv-deepxde
DIFFUSERS := .venv-diffusers
bench-peers:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PEERS)/bin/python -m pip install --quiet --disable-pip-version-check -e . \
		jax==0.4.30 jaxlib==0.4.30 tf2jax==0.3.6 neural-tangents==0.6.5
	$(PEERS)/bin/python benchmarks/kernels_vs_neural_tangents.py
	test -x $(DEEPXDE)/bin/python || $(PYTHON) -m venv $(DEEPXDE)
	$(DEEPXDE)/bin/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(DEEPXDE)/bin/python -m pip install --quiet --disable-pip-version-check -e . deepxde==1.14.0
	DDE_BACKEND=pytorch $(DEEPXDE)/bin/python benchmarks/pde_pinn_vs_deepxde.py
	test -x $(DIFFUSERS)/bin/python || $(PYTHON) -m venv $(DIFFUSERS)
	$(DIFFUSERS)/bin/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(DIFFUSERS)/bin/python -m pip install --quiet --disable-pip-version-check -e . \
		diffusers==0.42.1
	OMP_NUM_THREADS=2 $(DIFFUSERS)/bin/python benchmarks/generative_vs_diffusers.py

clean:
	rm -rf $(VENV) $(PEERS) $(DEEPXDE) $(DIFFUSERS) mathdl-runs .pytest_cache
