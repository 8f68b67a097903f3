# make install: .venv with Python 3.10 and the pinned dependency set (idempotent).
# make run:     install if needed, then the pipeline with defaults (set MNIST_DATA_DIR for offline data).
# make lint:    ruff (lint, format check) and mypy over the whole tree, as configured in pyproject.toml.
# make test:    install if needed, lint, then the whole test suite, on TEST_JOBS pytest-xdist workers
#               (default 2; TEST_JOBS=0 runs it in one process, e.g. for --pdb).
# make demo:    install if needed, then the smoke run of under a minute (local_runner.py --demo:
#               10,000 training and 1,000 test examples, 2 epochs, bound 0.9, into demo_output/;
#               ARGS= adds or overrides flags).
# make benchmark: benchmark-goal, then benchmark-ratios (about 30 minutes on 2 idle cores).
# make benchmark-goal: the full default run with seeds 1, 2, 3, checked against the accuracy/time
#                 goal (SEEDS=1 for one run, ARGS="--json FILE" to keep the numbers).
# make benchmark-ratios: the pipeline's cost over bare TF/Keras doing the same work, side by side
#                 (full MNIST, 2 epochs, 3 repeats); QUICK=1 for the quick mode (subsets, ~2 minutes).
# make benchmark-metadata: how long runs / lineage / compare take from a fresh process (goals:
#                 runs ≤ 1 s, lineage ≤ 1.5 s), on the recorded two runs or ARGS="--output-dir D".
# make benchmark-scale: time and peak memory of each stage at 1×, 3× and 10× MNIST (scaled sets built
#                 once in the download cache; 1 epoch; goals: ≤ 11× time, ≤ 1.5× memory); ARGS= adds flags.
# make benchmark-walkthrough: a fresh clone, then README.md's commands in order (install, smoke
#                 run, inspect, predict, a second run, compare) and the summaries' commands, from
#                 another directory; goal: within 10 minutes, every command exiting 0.
# make lock:    recompile the hashed requirements.lock (runtime) and requirements-test.lock (+ test, dev)
#               from pyproject.toml with uv, keeping the pins that still fit (LOCK_ARGS=--upgrade-package X).
# make image:   the Kubeflow component image (needs a Docker engine): make image IMAGE=registry/mnist:tag
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
TEST_JOBS ?= 2
IMAGE ?= mnist-tfx:dev

.PHONY: install run demo lint test benchmark benchmark-goal benchmark-ratios benchmark-metadata benchmark-scale benchmark-walkthrough image clean

install:
	@./scripts/install.sh

run: install
	$(PY) local_runner.py $(ARGS)

demo: install
	$(PY) local_runner.py --demo $(ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: install lint
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

benchmark: benchmark-goal benchmark-ratios

benchmark-goal: install
	$(PY) benchmarks/full_run.py $(if $(SEEDS),--seeds $(SEEDS)) $(ARGS)

benchmark-ratios: install
	$(PY) benchmarks/ratios.py $(if $(QUICK),--quick) $(ARGS)

benchmark-metadata: install
	$(PY) benchmarks/metadata_cli.py $(ARGS)

benchmark-scale: install
	$(PY) benchmarks/scale.py --plot docs/scale.svg $(ARGS)

benchmark-walkthrough: install
	$(PY) benchmarks/walkthrough.py $(ARGS)

# The runtime lock first; the test lock is constrained to it, so both pin the same versions. Each
# gets a two-line header saying what it is for; uv's own header below it names `make lock`.
.PHONY: lock
lock: UV_COMPILE = $(VENV)/bin/uv pip compile -q pyproject.toml --python $(PY) \
  --python-platform x86_64-unknown-linux-gnu --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
lock: install
	$(UV_COMPILE) -o requirements.lock
	@{ echo "# Runtime only, pyproject.toml's [project] dependencies: the component image installs it"; \
	  echo "# (Dockerfile, pip install --require-hashes). make install uses requirements-test.lock."; \
	  cat requirements.lock; } > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock
	$(UV_COMPILE) --extra test --extra dev -c requirements.lock -o requirements-test.lock
	@{ echo "# Runtime + the test and dev extras, at requirements.lock's versions: make install's .venv"; \
	  echo "# (scripts/install.sh, pip install --require-hashes)."; \
	  cat requirements-test.lock; } > requirements-test.lock.tmp && mv requirements-test.lock.tmp requirements-test.lock

image:
	docker build -t $(IMAGE) .

clean:
	rm -rf tfx_output demo_output .pytest_cache
