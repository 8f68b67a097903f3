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
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy
from tfx.types import standard_artifacts

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
    others = {
      MODEL_KEY: [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids],
      MODEL_BLESSING_KEY: list(input_dict[MODEL_BLESSING_KEY]),
    }
    result = super().resolve_artifacts(store, others)
    return {**result, CANDIDATE_KEY: candidates}


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
