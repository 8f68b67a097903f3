# Component image for the MNIST TFX pipeline on Kubeflow Pipelines 2.x / Vertex AI Pipelines.
# Every task of the compiled pipeline runs in it; the compiled commands (python -m
# kubeflow.entrypoint for the TFX executors, python -m kubeflow.run_results for the results
# step) override the ENTRYPOINT below.
# Build and push: make image IMAGE=registry.example.com/mnist:dev && docker push registry.example.com/mnist:dev
#
# Two stages. A few locked packages publish only an sdist with C/C++ code, no manylinux wheel
# for CPython 3.10: the builder compiles exactly those from their hash-checked sdists, at their
# locked versions, and the final stage installs those wheels, then the rest of requirements.lock
# from PyPI with every file checked against its hash, so no compiler ends up in the image.
# tests/test_requirements_lock.py fails when a package built from source in .venv is missing
# from the builder's list.

FROM python:3.10-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
# The pip scripts/install.sh uses.
RUN pip install pip==24.2

WORKDIR /build
COPY requirements.lock ./
# pyfarmhash (tensorflow-data-validation), crcmod (apache-beam[gcp]): awk copies their entries of
# the lock (version and sdist hashes) into compiled.lock; pip checks each sdist, then builds it.
RUN awk '/^[^ #]/ { keep = /^(crcmod|pyfarmhash)==/ } keep' requirements.lock > compiled.lock \
 && pip wheel --no-deps --require-hashes -r compiled.lock --wheel-dir /wheels


FROM python:3.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN pip install pip==24.2

WORKDIR /pipeline

# requirements.lock: the runtime part of `make install`'s set, at the same versions. The builder's
# wheels go in first (their sdists' hashes were checked there; a wheel built here has no PyPI
# hash); the hashed install then finds them installed at their locked versions and fetches the
# rest from PyPI, each file checked against the lock's hashes.
COPY --from=builder /wheels /wheels
COPY requirements.lock ./
RUN pip install --no-deps --no-index /wheels/*.whl \
 && pip install --require-hashes -r requirements.lock \
 && pip check

# The project's code the compiled commands import: kubeflow.entrypoint and kubeflow.run_results
# (the commands), the executors (components.*), run_fn (trainer_module.*), and the run report
# (inspection.*, with what it reads through: pipeline.*).
COPY components/ components/
COPY trainer_module/ trainer_module/
COPY kubeflow/ kubeflow/
COPY pipeline/ pipeline/
COPY inspection/ inspection/
ENV PYTHONPATH=/pipeline

ENTRYPOINT ["python", "-m", "kubeflow.entrypoint"]
