"""Two runs side by side, from the store: settings (differences marked), test accuracy, whether
each pushed, the versions and commit that made them, and per-class accuracy on the eval split
(from the ServingCheck's recorded answers, so no model is loaded and nothing imports TF)."""

import json
from typing import Any, Dict, List, Optional

from components.lib import artifact_files, mlmd, names
from inspection import quality, runs, settings


class CompareError(LookupError):
  """Fewer than two runs, or an unknown run id; the message is one line."""


def pick(store, run_ids: List[str]):
  """(older, newer) contexts: the two named, or the last two runs of the store."""
  if len(run_ids) not in (0, 2):
    raise CompareError('compare takes two run ids, or none for the last two runs')
  if not run_ids:
    newest_first = runs.runs(store)
    if len(newest_first) < 2:
      raise CompareError(f'compare needs two runs; this store has {len(newest_first)}')
    return newest_first[1], newest_first[0]
  chosen = []
  for run_id in run_ids:
    context = runs.run_context(store, run_id)
    if context is None:
      raise CompareError(f'{run_id}: no such run in this store (see `runs`)')
    chosen.append(context)
  return tuple(chosen)


def _per_class(summary: runs.RunSummary) -> Optional[List[Optional[float]]]:
  """Per-class accuracy from the ServingCheck's recorded answers, if it kept them."""
  answers = artifact_files.read_answers(summary.uris.get('InfraBlessing'))
  if answers is None:
    return None
  labels, probabilities = answers
  return quality.per_class_accuracy(labels, probabilities.argmax(axis=1), probabilities.shape[1])


def _class_names(store, summary: runs.RunSummary) -> Optional[List[str]]:
  if 'Examples' not in summary.artifacts:
    return None
  [examples] = store.get_artifacts_by_id([summary.artifacts['Examples']])
  class_names = mlmd.custom_value(examples, names.CLASS_NAMES)
  return json.loads(class_names) if class_names else None


def pushed(summary: runs.RunSummary) -> str:
  if summary.pushed_version:
    return f'yes, version {summary.pushed_version}'
  if summary.already_serving:
    return f'no, version {summary.already_serving} already serves this model'
  return 'no'


def _side(summary: runs.RunSummary) -> Dict[str, Any]:
  return {
    'run_id': summary.run_id,
    'started': summary.started,
    'state': summary.state,
    'accuracy': summary.accuracy,
    'blessed': summary.blessed,
    'servable': summary.servable,
    'pushed': pushed(summary),
    'pushed_version': summary.pushed_version,
    'provenance': summary.provenance,
  }


def compare(store, run_ids: List[str]) -> Dict[str, Any]:
  older, newer = pick(store, run_ids)
  a, b = runs.summarize_run(store, older), runs.summarize_run(store, newer)
  differing = set(settings.differences(a.settings, b.settings))
  names = list(a.settings) + [k for k in b.settings if k not in a.settings]
  result: Dict[str, Any] = {
    'a': _side(a),
    'b': _side(b),
    'settings': [
      {'name': k, 'a': a.settings.get(k), 'b': b.settings.get(k), 'differs': k in differing}
      for k in names
    ],
    'accuracy_change': (
      b.accuracy - a.accuracy if a.accuracy is not None and b.accuracy is not None else None
    ),
    'per_class': None,
  }
  per_a, per_b = _per_class(a), _per_class(b)
  if per_a is not None or per_b is not None:
    class_names = _class_names(store, b) or _class_names(store, a)
    rows = []
    for i in range(len(per_a if per_a is not None else per_b or [])):
      x = per_a[i] if per_a else None
      y = per_b[i] if per_b else None
      rows.append(
        {
          'class': i,
          'name': class_names[i] if class_names and i < len(class_names) else str(i),
          'a': x,
          'b': y,
          'change': y - x if x is not None and y is not None else None,
        }
      )
    result['per_class'] = rows
  return result
