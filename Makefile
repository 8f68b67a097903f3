# make install: .venv with Python 3.10 and the pinned dependency set (idempotent).
# make run:     install if needed, then the pipeline with defaults (set MNIST_DATA_DIR for offline data).
# make test:    install if needed, then the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install run test clean

install:
	@./scripts/install.sh

run: install
	$(PY) local_runner.py $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf tfx_output .pytest_cache
