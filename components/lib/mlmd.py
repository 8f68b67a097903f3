"""ML Metadata as both orchestrators record it: the values of custom properties, and the names a
local TFX run and the Kubeflow Pipelines 2.x launcher give the same types and contexts. The one
place that knows both spellings; the components (the baseline lookup on KFP) and the read side
(inspection/) use it. Only ML Metadata's protos here: no TFX, no TensorFlow."""

import re
from typing import Any, Optional, Tuple

# A local run names an artifact type 'Model'; KFP's launcher records the schema title 'tfx.Model'.
KFP_TYPE_PREFIX = 'tfx.'
# The context of every execution of one run, and of one pipeline: TFX's names, then KFP's
# (kubeflow/pipelines backend/src/v2/metadata/client.go GetPipeline, GetPipelineRun).
RUN_CONTEXT_TYPES = ('pipeline_run', 'system.PipelineRun')
PIPELINE_CONTEXT_TYPES = ('pipeline', 'system.Pipeline')
NODE_CONTEXT_TYPE = 'node'  # TFX only: one per component, named '<pipeline>.<node id>'
MAX_ID = 2**63 - 1  # ML Metadata's ids (artifacts, executions, contexts) are int64, from 1


def parse_id(text: str) -> Optional[int]:
  """The id `text` names, as ML Metadata holds one: a plain decimal number from 1 to MAX_ID;
  None for anything else (a sign, spaces, '²', a number past int64)."""
  if not re.fullmatch(r'[1-9][0-9]{0,18}', text):
    return None
  return int(text) if int(text) <= MAX_ID else None


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
