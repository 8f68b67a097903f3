"""Kubeflow Pipelines (v2) and Vertex AI Pipelines: compile and upload the same pipeline."""
