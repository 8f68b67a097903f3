"""ML Metadata as both orchestrators record it: the values of custom properties, and the names a
local TFX run and the Kubeflow Pipelines 2.x launcher give the same types and contexts. The one
place that knows both spellings; the components (the baseline lookup on KFP) and the read side
(inspection/) use it. Only ML Metadata's protos here: no TFX, no TensorFlow."""

from typing import Any, Tuple

# A local run names an artifact type 'Model'; KFP's launcher records the schema title 'tfx.Model'.
KFP_TYPE_PREFIX = 'tfx.'
# The context of every execution of one run, and of one pipeline: TFX's names, then KFP's
# (kubeflow/pipelines backend/src/v2/metadata/client.go GetPipeline, GetPipelineRun).
RUN_CONTEXT_TYPES = ('pipeline_run', 'system.PipelineRun')
PIPELINE_CONTEXT_TYPES = ('pipeline', 'system.Pipeline')
NODE_CONTEXT_TYPE = 'node'  # TFX only: one per component, named '<pipeline>.<node id>'


def custom_value(item: Any, key: str) -> Any:
  """The value of custom property `key` of an artifact, execution or context, whatever its kind
  (int, double, string, struct, proto), or None when it has none."""
  if key not in item.custom_properties:
    return None
  value = item.custom_properties[key]
  kind = value.WhichOneof('value')
  return getattr(value, kind) if kind else None


def type_names(name: str) -> Tuple[str, str]:
  """Both spellings of an artifact type: ('Model', 'tfx.Model')."""
  return name, KFP_TYPE_PREFIX + name


def plain_type_name(name: str) -> str:
  """'Model' for both a local run's 'Model' and KFP's 'tfx.Model'."""
  return name[len(KFP_TYPE_PREFIX) :] if name.startswith(KFP_TYPE_PREFIX) else name
