"""The Evaluator's baseline for local runs: the newest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy returns the newest blessed model, whichever it is. On an
identical rerun the Trainer is cached, so the newest blessed model is the candidate itself: the
Evaluator's inputs change (baseline: none, then the candidate) and it, the ServingCheck and the
Pusher run again only to compare the model with itself. Leaving the candidate out keeps the
baseline what it was on the first run, so TFX's cache holds from end to end.

Only a model of the candidate's own data set and classes can be its baseline
(components/lib/data_identity.py): a digits model scored on clothes is no bar to clear. The
candidate's identity, and each model's, are read from the Examples its Trainer read (trained_on,
which the lookup on Kubeflow, latest_blessed_model.py, uses too).

Vertex's compiler knows only TFX's own strategies (tfx/orchestration/kubeflow/v2/step_builder.py,
_build_resolver_spec, TFX 1.16), so a compiled pipeline keeps LatestBlessedModelStrategy.
"""

from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy
from tfx.types import standard_artifacts

from components.lib import data_identity, mlmd

MODEL_KEY = 'model'
MODEL_BLESSING_KEY = 'model_blessing'
CANDIDATE_KEY = 'candidate'


class LatestBlessedOtherModelStrategy(latest_blessed_model_strategy.LatestBlessedModelStrategy):
  """TFX's LatestBlessedModelStrategy with the models of the `candidate` channel left out."""

  def resolve_artifacts(
    self, store, input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    candidates = list(input_dict.get(CANDIDATE_KEY, []))
    candidate_ids = {a.id for a in candidates}
    models = [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids]
    if store is not None and candidates and models:
      identities = trained_on(store, [m.id for m in models + candidates])
      wanted = {identities.get(c.id) for c in candidates}
      models = [m for m in models if identities.get(m.id) in wanted]
    others = {MODEL_KEY: models, MODEL_BLESSING_KEY: list(input_dict[MODEL_BLESSING_KEY])}
    result = super().resolve_artifacts(store, others)
    return {**result, CANDIDATE_KEY: candidates}


def trained_on(store, model_ids: List[int]) -> Dict[int, data_identity.DataIdentity]:
  """{model id: the identity of the Examples its Trainer read} for the models whose producer
  read Examples; ML Metadata's events, three queries whatever the number of models."""
  events = store.get_events_by_artifact_ids(model_ids)
  producer = {
    e.artifact_id: e.execution_id
    for e in events
    if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
  }
  inputs: Dict[int, List[int]] = {}
  for event in store.get_events_by_execution_ids(sorted(set(producer.values()))):
    if event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
      inputs.setdefault(event.execution_id, []).append(event.artifact_id)
  wanted = sorted({a for ids in inputs.values() for a in ids})
  artifacts = {a.id: a for a in store.get_artifacts_by_id(wanted)} if wanted else {}
  type_names = {
    t.id: mlmd.plain_type_name(t.name)
    for t in store.get_artifact_types_by_id(sorted({a.type_id for a in artifacts.values()}))
  }
  found = {}
  for model_id, execution_id in producer.items():
    for artifact_id in inputs.get(execution_id, []):
      artifact = artifacts.get(artifact_id)
      if artifact is not None and type_names.get(artifact.type_id) == 'Examples':
        found[model_id] = data_identity.of_examples(artifact)
        break
  return found


def latest_blessed_other_model(candidate: types.BaseChannel) -> resolver.Resolver:
  """A Resolver whose outputs['model'] is the newest blessed model that is not `candidate`
  (empty when there is none: the Evaluator then has no baseline to beat)."""
  return resolver.Resolver(
    strategy_class=LatestBlessedOtherModelStrategy,
    **{
      MODEL_KEY: types.Channel(type=standard_artifacts.Model),
      MODEL_BLESSING_KEY: types.Channel(type=standard_artifacts.ModelBlessing),
      CANDIDATE_KEY: candidate,
    },
  )
