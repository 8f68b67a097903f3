"""The run report: everything it shows, collected from ML Metadata and the run's artifacts, and
written as one self-contained page per run plus the output dir's index of every run
(report_html renders; model_quality reads the splits and the model's answers)."""

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from components import data_validation
from components.lib import artifact_files, mlmd, names
from inspection import lineage, model_quality, report_html, runs
from pipeline.paths import LocalPaths
from trainer_module.features import EVAL_SPLIT, TRAIN_SPLIT

GATE_KEYS = ('accuracy_threshold', 'change_threshold', 'accuracy', 'baseline_accuracy', 'failures')


# --- data statistics: MnistExampleGen's image_stats.json, the schemas, the anomalies ---


def _validation_outputs(store, run) -> Dict[str, Any]:
  """This run's ImportSchemaGen / SchemaGen schema and ExampleValidator anomalies artifacts."""
  found = {}
  for execution in store.get_executions_by_context(run.id):
    node = runs.node_id(store, execution.id)
    if node in names.VALIDATION_NODES:
      for artifact in runs.artifacts_of(store, execution.id):
        found[node] = artifact
  return found


def _anomalies(anomalies_uri: str) -> List[str]:
  found = []
  for split in (TRAIN_SPLIT, EVAL_SPLIT):
    for file_name, what in (
      ('SchemaDiff.pb', f'split {split}'),
      (data_validation.SKEW_FILE, f'split {split} vs {TRAIN_SPLIT} (skew)'),
    ):
      anomalies = data_validation.read_anomalies(anomalies_uri, split, file_name)
      if anomalies is not None:
        found += [f'{what}: {phrase}' for phrase in data_validation.describe(anomalies)]
  return found


def data_statistics(store, run, examples) -> Optional[Dict[str, Any]]:
  """Per split label counts, mean image per class and pixel histogram (ExampleGen's
  image_stats.json), the anomalies and both schemas; None for runs that recorded none of them
  (older runs)."""
  result: Dict[str, Any] = {}
  stats = artifact_files.read_image_stats(examples.uri)
  if stats:
    result.update(
      dataset=stats.get('dataset'),
      class_names=stats.get('class_names'),
      splits=stats.get('splits', {}),
    )
  outputs = _validation_outputs(store, run)
  if names.EXAMPLE_VALIDATOR in outputs:
    result['anomalies'] = _anomalies(outputs[names.EXAMPLE_VALIDATOR].uri)
  for node, key in ((names.IMPORT_SCHEMA_GEN, 'schema'), (names.SCHEMA_GEN, 'inferred_schema')):
    if node in outputs:
      schema = artifact_files.read_text(artifact_files.join(outputs[node].uri, 'schema.pbtxt'))
      if schema is not None:
        result[key] = schema
  return result or None


def read_serving_check(uri: Optional[str]) -> Optional[Dict[str, Any]]:
  try:
    return artifact_files.read_serving_result(uri)
  except Exception as e:  # noqa: BLE001  # the rest of the report still helps
    return {'unreadable': f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'}


def collect(store, run, summary: Optional[runs.RunSummary] = None) -> Dict[str, Any]:
  """Everything the report shows, as plain numbers (JSON-serializable)."""
  summary = summary or runs.summarize_run(store, run)
  report: Dict[str, Any] = {'run_id': run.name, 'summary': summary.to_json()}
  history = artifact_files.read_history(summary.uris.get('ModelRun'))
  if history:
    report['history'] = history
  examples_id = summary.artifacts.get('Examples')
  if examples_id is not None:
    [examples] = store.get_artifacts_by_id([examples_id])
    report['data'] = lineage.artifact_properties(store, examples)
    dataset = mlmd.custom_value(examples, names.DATASET)
    if dataset:
      report['data'] = {names.DATASET: dataset, **report['data']}
    report.update(
      model_quality.model_quality(
        examples.uri, summary.model_uri, summary.uris.get('InfraBlessing')
      )
    )
    statistics = data_statistics(store, run, examples)
    if statistics:
      report['data_statistics'] = statistics
  evaluator = [
    e
    for e in store.get_executions_by_context(run.id)
    if runs.node_id(store, e.id) == names.EVALUATOR
  ]
  details = lineage.evaluation_details(store, evaluator[0]) if evaluator else {}
  if details:
    report['gate'] = {k: details.get(k) for k in GATE_KEYS}
  serving_check = read_serving_check(summary.uris.get('InfraBlessing'))
  if serving_check:
    report['serving_check'] = serving_check
  return report


def report_path(output_dir: str, run_id: str) -> str:
  return LocalPaths.under(output_dir).report_path(run_id)


TRY_EXAMPLES = 5


def write_try_examples(
  store, summary: runs.RunSummary, output_dir: str
) -> Tuple[Optional[str], str]:
  """The first eval examples of the run's own data, as the .npy `predict` and `classify` take
  ([N, 28, 28] float32 in [0, 1]), beside the run's report; (path, their true labels) or
  (None, '')."""
  if 'Examples' not in summary.artifacts:
    return None, ''
  [examples] = store.get_artifacts_by_id([summary.artifacts['Examples']])
  images, labels = model_quality.read_split(examples.uri, EVAL_SPLIT, limit=TRY_EXAMPLES)
  if not len(labels):
    return None, ''
  class_names = json.loads(mlmd.custom_value(examples, names.CLASS_NAMES) or 'null')
  path = LocalPaths.under(output_dir).examples_path(summary.run_id)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  np.save(path, (images[:TRY_EXAMPLES] / 255.0).astype(np.float32))
  shown = [
    str(class_names[i]) if class_names and str(class_names[i]) != str(i) else str(i)
    for i in labels[:TRY_EXAMPLES]
  ]
  return path, ', '.join(shown)


def write_report(store, run, output_dir: str, summary: Optional[runs.RunSummary] = None) -> str:
  """The run's report, and the output dir's index.html listing every run (write_index)."""
  path = report_path(output_dir, run.name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(report_html.render(collect(store, run, summary)))
  write_index(store, output_dir)
  return path


def index_path(output_dir: str) -> str:
  return LocalPaths.under(output_dir).index_path


def write_index(store, output_dir: str) -> str:
  """<output dir>/index.html: every run in the store, newest first, with its accuracy, key
  settings, verdicts and a link to its report (where this output dir has one)."""
  rows = []
  for context in runs.runs(store):
    summary = runs.summarize_run(store, context).to_json()
    report = report_path(output_dir, context.name)
    summary['report'] = (
      os.path.relpath(report, os.path.dirname(index_path(output_dir)))
      if os.path.exists(report)
      else None
    )
    rows.append(summary)
  path = index_path(output_dir)
  with open(path, 'w') as f:
    f.write(report_html.render_index(rows))
  return path
