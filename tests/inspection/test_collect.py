"""The read side's data collection, on the recorded two runs (real ML Metadata, real TFMA files):
what ran, what was decided and why, what came from where. Runs in seconds, no pipeline run."""

import json
import os

import numpy as np
import pytest

from components.lib import idx
from inspection import cli as cli
from inspection import lineage, report, runs

RECORDED_ACCURACY = 0.889  # the recorded model on the first 1000 test digits
VERSION = '1796669091'  # the version run 1 pushed
SHA256_TRAIN_IMAGES = 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db'


def _runs(store):
  newest, oldest = [runs.summarize_run(store, context) for context in runs.runs(store)]
  return oldest, newest


def test_each_run_says_what_it_decided_and_why(recorded):
  _, store = recorded
  first, second = _runs(store)
  assert first.blessed is True and first.failures == []
  assert first.accuracy == pytest.approx(RECORDED_ACCURACY, abs=1e-6)
  assert first.baseline_accuracy is None  # nothing blessed before it
  assert first.pushed_version == VERSION and first.pushed_dir.endswith(f'/serving/{VERSION}')
  assert list(first.component_states.values()) == ['COMPLETE'] * 10
  assert (
    second.blessed is False and second.pushed_version is None and second.already_serving is None
  )
  assert second.failures == ['sparse_categorical_accuracy 0.8890 is below the bound 0.9999']
  # Run 2's model is run 1's (its Trainer was cached), and a candidate is never its own baseline.
  assert second.baseline_accuracy is None
  assert second.component_states['Trainer'] == 'CACHED'
  assert second.component_states['Evaluator'] == 'COMPLETE'
  assert second.model_uri == first.model_uri  # the cached Trainer's model is the same artifact


def test_the_gate_is_the_one_tfma_applied(recorded):
  _, store = recorded
  first, second = _runs(store)
  applied = runs.read_evaluation(first.uris['ModelEvaluation'])
  assert applied.accuracy_threshold == 0.5 and applied.change_threshold is None  # no baseline yet
  applied = runs.read_evaluation(second.uris['ModelEvaluation'])
  assert applied.accuracy_threshold == 0.9999
  assert applied.change_threshold is None  # no other blessed model to compare with


def walk(node):
  """Every node of a lineage tree, depth first (also used by test_cli_and_report.py)."""
  yield node
  for children in node.get('produced_by', {}).get('inputs', {}).values():
    for child in children:
      yield from walk(child)


def test_lineage_from_the_pushed_version_down_to_the_source_digests(recorded):
  _, store = recorded
  tree = lineage.lineage(store, VERSION)
  assert tree['type'] == 'PushedModel' and tree['properties']['pushed_version'] == VERSION
  assert tree['produced_by']['component'] == 'Pusher'
  nodes = list(walk(tree))
  examples = [n for n in nodes if n['type'] == 'Examples' and not n.get('see_above')]
  assert len(examples) == 1
  assert examples[0]['properties']['sha256_train_images'] == SHA256_TRAIN_IMAGES
  assert examples[0]['produced_by']['component'] == 'MnistExampleGen'
  [blessing] = [n for n in nodes if n['type'] == 'ModelBlessing']
  evaluation = blessing['produced_by']['evaluation']
  assert evaluation['accuracy_threshold'] == 0.5 and evaluation['baseline_accuracy'] is None
  # Examples and Model, met again through the data validation, the Evaluator and the ServingCheck
  assert {n['type'] for n in nodes if n.get('see_above')} == {'Examples', 'Model'}
  assert lineage.lineage(store, str(tree['artifact_id'])) == tree  # by artifact id too
  with pytest.raises(lineage.LineageError, match='999: no pushed version and no artifact'):
    lineage.lineage(store, '999')


def test_artifacts_by_type_and_by_run(recorded):
  _, store = recorded
  evaluations = lineage.list_artifacts(store, kind='ModelEvaluation')
  assert len(evaluations) == 2
  assert all(
    e['properties']['accuracy'] == pytest.approx(RECORDED_ACCURACY, abs=1e-6) for e in evaluations
  )
  oldest = runs.runs(store)[1].name
  kinds = [a['type'] for a in lineage.list_artifacts(store, run_id=oldest)]
  assert kinds == [
    'Schema',
    'Examples',
    'ExampleStatistics',
    'ExampleAnomalies',
    'Schema',
    'Model',
    'ModelRun',
    'ModelEvaluation',
    'ModelBlessing',
    'InfraBlessing',
    'PushedModel',
  ]
  # Run 2 lists only its own blessing: no other model was there to be its baseline.
  blessings = [
    a
    for a in lineage.list_artifacts(store, run_id=runs.runs(store)[0].name)
    if a['type'] == 'ModelBlessing'
  ]
  assert [b['properties']['blessed'] for b in blessings] == [0]
  with pytest.raises(LookupError, match='nope: no run with that id'):
    lineage.list_artifacts(store, run_id='nope')


def test_report_data_from_the_store_and_the_artifacts(recorded, mnist_dir):
  output_dir, store = recorded
  first_run = runs.runs(store)[1]
  data = report.collect(store, first_run)
  assert data['run_id'] == first_run.name and data['summary']['blessed'] is True
  assert len(data['history']['loss']) == 2  # --epochs 2
  # The training split's labels as MnistExampleGen counted them (image_stats.json): MNIST's first
  # 3000; the eval split's from the 40 records kept.
  first_3000 = idx.load_split(mnist_dir, 'train').labels[:3000]
  assert data['label_histograms']['train'] == np.bincount(first_3000, minlength=10).tolist()
  assert sum(data['label_histograms']['eval']) == 40
  assert data['data']['sha256_train_images'] == SHA256_TRAIN_IMAGES
  assert data['data']['train_examples'] == 3000
  assert data['gate']['accuracy_threshold'] == 0.5 and data['gate']['failures'] == []
  # The recording keeps no model: the report says so instead of failing.
  assert (
    data['model_missing'] == data['summary']['uris']['Model'] and 'confusion_matrix' not in data
  )
  json.dumps(data)  # plain data all the way down


def _cli(capsys, output_dir, *args):
  code = cli.main(['--output-dir', output_dir, *args])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_the_command_line_over_the_recorded_store(recorded, capsys):
  output_dir, _ = recorded
  code, out, _ = _cli(capsys, output_dir, 'runs')
  header, second, first = out.splitlines()
  assert code == 0 and header.split() == [
    'RUN',
    'STARTED',
    'STATE',
    'ACCURACY',
    'BLESSED',
    'SERVABLE',
    'PUSHED',
    'SETTINGS',
    'COMPONENTS',
  ]
  assert first.split()[2:7] == ['complete', '0.8890', 'yes', 'yes', VERSION]
  assert second.split()[2:7] == ['complete', '0.8890', 'no', 'yes', '-']
  code, out, _ = _cli(capsys, output_dir, '--json', 'artifacts', '--type', 'PushedModel')
  assert code == 0 and [a['properties'].get('pushed_version') for a in json.loads(out)] == [
    VERSION,
    None,
  ]
  code, out, _ = _cli(capsys, output_dir, 'lineage', VERSION)
  assert code == 0 and out.startswith('PushedModel #') and 'threshold: accuracy ≥ 0.5' in out
  code, out, _ = _cli(capsys, output_dir, 'report')
  report_line, index_line = out.strip().splitlines()
  path = report_line.split('Report: ', 1)[1]
  assert code == 0 and os.path.exists(path) and path.startswith(os.path.join(output_dir, 'reports'))
  assert index_line.split()[1] == os.path.join(output_dir, 'index.html')
  code, _, err = _cli(capsys, output_dir, 'lineage', '12345')
  assert (
    code == 1
    and err.strip() == 'error: 12345: no pushed version and no artifact with that id in this store'
  )
