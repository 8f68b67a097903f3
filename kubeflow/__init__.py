"""Kubeflow Pipelines (v2) and Vertex AI Pipelines: compile and upload the same pipeline."""

# KFP's ML Metadata gRPC service, as pipeline pods reach it in a standard install.
DEFAULT_MLMD_ADDRESS = 'metadata-grpc-service.kubeflow:8080'
