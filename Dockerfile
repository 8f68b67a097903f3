# Component image for the MNIST TFX pipeline on Kubeflow Pipelines 2.x / Vertex AI Pipelines.
# Every task of the compiled pipeline runs in it:
#   python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor …
# Build and push: make image IMAGE=registry.example.com/mnist:dev && docker push registry.example.com/mnist:dev
FROM python:3.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /pipeline

# The same pinned set as `make install` (requirements.lock as constraints).
COPY requirements.in requirements.lock ./
RUN pip install -r requirements.in -c requirements.lock && pip check

# The project's code the executors and run_fn import (components.*, trainer_module.*).
COPY components/ components/
COPY trainer_module/ trainer_module/
ENV PYTHONPATH=/pipeline

ENTRYPOINT ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
