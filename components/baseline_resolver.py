"""The Evaluator's baseline for local runs: the newest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy returns the newest blessed model, whichever it is. On an
identical rerun the Trainer is cached, so the newest blessed model is the candidate itself: the
Evaluator's inputs change (baseline: none, then the candidate) and it, the ServingCheck and the
Pusher run again only to compare the model with itself. Leaving the candidate out keeps the
baseline what it was on the first run, so TFX's cache holds from end to end.

Vertex's compiler knows only TFX's own strategies (tfx/orchestration/kubeflow/v2/step_builder.py,
_build_resolver_spec, TFX 1.16), so a compiled pipeline keeps LatestBlessedModelStrategy.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx import v1 as tfx

MODEL_KEY = 'model'
MODEL_BLESSING_KEY = 'model_blessing'
CANDIDATE_KEY = 'candidate'


class LatestBlessedOtherModelStrategy(tfx.dsl.experimental.LatestBlessedModelStrategy):
  """TFX's LatestBlessedModelStrategy with the models of the `candidate` channel left out."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    candidates = list(input_dict.get(CANDIDATE_KEY, []))
    candidate_ids = {a.id for a in candidates}
    others = {MODEL_KEY: [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids],
              MODEL_BLESSING_KEY: list(input_dict[MODEL_BLESSING_KEY])}
    result = super().resolve_artifacts(store, others)
    return {**result, CANDIDATE_KEY: candidates}


def latest_blessed_other_model(candidate: types.BaseChannel) -> tfx.dsl.Resolver:
  """A Resolver whose outputs['model'] is the newest blessed model that is not `candidate`
  (empty when there is none: the Evaluator then has no baseline to beat)."""
  return tfx.dsl.Resolver(
      strategy_class=LatestBlessedOtherModelStrategy,
      **{MODEL_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
         MODEL_BLESSING_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
         CANDIDATE_KEY: candidate})
