"""LatestBlessedModel and BaselineModel: the baseline for the Evaluator on open-source KFP.

TFX's Resolver compiles to a `resolver` executor that Vertex AI runs but the open-source KFP
2.x backend refuses ("resolver not implemented yet"). Two ordinary container components do the
same job:
- LatestBlessedModel asks KFP's ML Metadata service for the newest blessed ModelBlessing
  recorded under this pipeline's context (KFP attributes every artifact to a `system.Pipeline`
  context named after the pipeline: backend/src/v2/metadata/client.go, GetPipeline and
  PutExecution), so another pipeline sharing the store never supplies the baseline. The
  candidate's own blessing never counts, and with no other blessed model the answer is the
  candidate itself (the "no worse than the served model" check then passes trivially). Its
  answer depends on the store, so it is never cached; it outputs the model's URI as a String,
  which the compiled pipeline passes on as an output *parameter*.
- BaselineModel copies the model at that URI into its own output, the Evaluator's baseline. It
  is cached: KFP's cache key holds input parameters by value but input artifacts by MLMD id
  (backend/src/v2/cacheutils/cache.go GenerateCacheKey), so on an identical rerun the same URI
  gives a cache hit, the same baseline artifact, and the Evaluator and all after it are cached.
"""

import os
from typing import Any, Dict, List, Optional, Set

from ml_metadata import errors, metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils

from components.baseline_resolver import trained_on
from components.lib import mlmd, names

MLMD_ADDRESS_KEY = 'mlmd_address'
KFP_RUN_CONTEXT_TYPE = mlmd.RUN_CONTEXT_TYPES[1]  # only KFP's run contexts carry a namespace


def _blessings(store: metadata_store.MetadataStore, pipeline_name: str) -> List:
  """The pipeline's ModelBlessing artifacts (none when the pipeline has never run)."""
  type_ids = set()
  for type_name in mlmd.type_names('ModelBlessing'):
    try:
      type_ids.add(store.get_artifact_type(type_name).id)
    except errors.NotFoundError:
      pass
  blessings: List[metadata_store_pb2.Artifact] = []
  for context_type in mlmd.PIPELINE_CONTEXT_TYPES:
    context = store.get_context_by_type_and_name(context_type, pipeline_name)
    if context is not None:
      blessings.extend(
        a for a in store.get_artifacts_by_context(context.id) if a.type_id in type_ids
      )
  return blessings


def _namespaces(store: metadata_store.MetadataStore, artifact_ids: List[int]) -> Set[str]:
  """The Kubernetes namespaces of the KFP runs these artifacts belong to (its run contexts'
  `namespace` property, metadata/client.go GetPipeline); none for a local run."""
  found = set()
  for artifact_id in artifact_ids:
    try:
      contexts = store.get_contexts_by_artifact(artifact_id)
    except errors.NotFoundError:  # ML Metadata 1.16: an artifact in no context
      continue
    for context in contexts:
      namespace = mlmd.custom_value(context, 'namespace')
      if (
        namespace
        and store.get_context_types_by_id([context.type_id])[0].name == KFP_RUN_CONTEXT_TYPE
      ):
        found.add(str(namespace))
  return found


def latest_blessed_model_uri(
  store: metadata_store.MetadataStore, pipeline_name: str, candidate_uri: Optional[str] = None
) -> Optional[str]:
  """URI of the model other than the candidate that this pipeline blessed most recently, or None.

  Never the candidate itself: a rerun whose Trainer was cached (same model URI) compares it
  with the model it was first compared with, not with itself.

  KFP names the pipeline context without its namespace, and one store serves every profile of
  a cluster: with the candidate's URI, only blessings from runs in the candidate's own
  namespace count, so two profiles running a pipeline of the same name stay apart; and only a
  model trained on the candidate's own data set and classes (a digits model is no bar for a
  clothes model compiled under the same pipeline name)."""
  blessings = _blessings(store, pipeline_name)
  candidates = [a.id for a in store.get_artifacts_by_uri(candidate_uri)] if candidate_uri else []
  ours = _namespaces(store, candidates)
  if ours:
    blessings = [b for b in blessings if _namespaces(store, [b.id]) & ours]
  wanted = None  # the candidate's data identities, read once, when a blessed model is met
  for blessing in sorted(blessings, key=lambda a: (a.create_time_since_epoch, a.id), reverse=True):
    blessed = mlmd.custom_value(blessing, 'blessed')
    model = mlmd.custom_value(blessing, 'current_model')
    if blessed is None or float(blessed) != 1 or not model or str(model) == candidate_uri:
      continue
    models = [a.id for a in store.get_artifacts_by_uri(str(model))]
    if not candidates or not models:  # nothing recorded to compare: as before the data sets
      return str(model)
    if wanted is None:
      identities = trained_on(store, candidates)
      wanted = {identities.get(i) for i in candidates}
    identities = trained_on(store, models)
    if any(identities.get(i) in wanted for i in models):  # as baseline_resolver.py decides
      return str(model)
  return None


def copy_baseline(source_uri: str, candidate_uri: str, output: types.Artifact) -> None:
  """Copies the model at `source_uri` into `output`, noting where it came from."""
  io_utils.copy_dir(source_uri, output.uri)
  output.set_string_custom_property('baseline_source', source_uri)
  output.set_string_custom_property(
    'baseline_kind', 'candidate' if source_uri == candidate_uri else 'latest_blessed'
  )


def resolve_baseline(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  candidate_uri: str,
  output: types.Artifact,
) -> str:
  """Both steps at once: copies the latest blessed model (or the candidate) into `output`;
  returns its source."""
  source = latest_blessed_model_uri(store, pipeline_name, candidate_uri) or candidate_uri
  copy_baseline(source, candidate_uri, output)
  return source


def grpc_store(address: str) -> metadata_store.MetadataStore:
  host, _, port = address.rpartition(':')
  if not host or not port.isdigit():
    raise ValueError(f'mlmd_address must be HOST:PORT, got {address!r}')
  config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=int(port))
  return metadata_store.MetadataStore(config)


BASELINE_URI_KEY = 'baseline_uri'
SOURCE_URI_KEY = 'source_uri'


class LatestBlessedModelSpec(ComponentSpec):
  PARAMETERS = {
    MLMD_ADDRESS_KEY: ExecutionParameter(type=str),
    names.PIPELINE_NAME: ExecutionParameter(type=str),
  }
  INPUTS = {'candidate': ChannelParameter(type=standard_artifacts.Model)}
  OUTPUTS = {BASELINE_URI_KEY: ChannelParameter(type=standard_artifacts.String)}


class Executor(base_executor.BaseExecutor):
  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    candidate = artifact_utils.get_single_instance(input_dict['candidate'])
    store = grpc_store(exec_properties[MLMD_ADDRESS_KEY])
    source = latest_blessed_model_uri(store, exec_properties[names.PIPELINE_NAME], candidate.uri)
    output = artifact_utils.get_single_instance(output_dict[BASELINE_URI_KEY])
    if '://' not in output.uri:  # a value is one file at the URI: a local folder must exist
      fileio.makedirs(os.path.dirname(output.uri))
    output.value = source or candidate.uri


class LatestBlessedModel(base_component.BaseComponent):
  """Outputs the URI of the latest blessed model other than the candidate (or the candidate's)."""

  SPEC_CLASS = LatestBlessedModelSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, candidate: types.BaseChannel, mlmd_address: str, pipeline_name: str):
    super().__init__(
      spec=LatestBlessedModelSpec(
        candidate=candidate,
        mlmd_address=mlmd_address,
        pipeline_name=pipeline_name,
        **{BASELINE_URI_KEY: types.Channel(type=standard_artifacts.String)},
      )
    )


class BaselineModelSpec(ComponentSpec):
  PARAMETERS = {SOURCE_URI_KEY: ExecutionParameter(type=str)}
  INPUTS = {'candidate': ChannelParameter(type=standard_artifacts.Model)}
  OUTPUTS = {'model': ChannelParameter(type=standard_artifacts.Model)}


class BaselineExecutor(base_executor.BaseExecutor):
  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    candidate = artifact_utils.get_single_instance(input_dict['candidate'])
    copy_baseline(
      exec_properties[SOURCE_URI_KEY],
      candidate.uri,
      artifact_utils.get_single_instance(output_dict['model']),
    )


class BaselineModel(base_component.BaseComponent):
  """Copies the model LatestBlessedModel named into the Evaluator's baseline."""

  SPEC_CLASS = BaselineModelSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(BaselineExecutor)

  def __init__(self, lookup: LatestBlessedModel, candidate: types.BaseChannel):
    super().__init__(
      spec=BaselineModelSpec(
        candidate=candidate,
        source_uri=lookup.outputs[BASELINE_URI_KEY].future()[0].value,
        model=types.Channel(type=standard_artifacts.Model),
      )
    )
