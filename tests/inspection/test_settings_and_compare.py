"""A run's settings, provenance and the comparison of two runs, read back from real ML Metadata:
the recorded two runs (local TFX), and executions shaped as Kubeflow Pipelines records them."""

import json
import os
import subprocess

import numpy as np
import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from inspection import cli as cli
from inspection import compare, render, runs, settings
from pipeline import store as store_lib
from pipeline.local import run_record
from tests.conftest import REPO
from tests.kubeflow.kfp_standin import KfpStandIn

RECORDED = {
  'dataset': 'mnist',
  'train_examples': 3000,
  'eval_examples': 1000,
  'epochs': 2,
  'batch_size': 128,
  'learning_rate': 0.001,
  'data_dir': '/work/shared/mnist',
}


def test_each_run_s_settings_come_from_its_executions(recorded):
  _, store = recorded
  newer, older = [runs.summarize_run(store, c) for c in runs.runs(store)]
  for summary, bound in ((older, 0.5), (newer, 0.9999)):
    assert {k: summary.settings[k] for k in RECORDED} == RECORDED
    assert summary.settings['accuracy_threshold'] == bound
  # Run 2's Trainer was cached: its settings are still the ones its model was trained with.
  assert newer.component_states['Trainer'] == 'CACHED' and newer.settings['epochs'] == 2
  assert settings.differences(older.settings, newer.settings) == ['accuracy_threshold']


def test_kubeflow_records_them_as_the_task_s_inputs(tmp_path):
  """KFP's driver writes each task's resolved parameters as the execution's `inputs` struct
  (kubeflow/pipelines backend/src/v2/metadata/client.go CreateExecution, keyInputs; played by
  tests/kubeflow/kfp_standin.py _describe). The values are those `python -m kubeflow compile
  --dataset fashion-mnist --seed 3 --train-examples 3000` puts in the spec, numbers as doubles."""
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = str(tmp_path / 'kfp.sqlite')
  store = metadata_store.MetadataStore(config)
  kind = mlmd.ExecutionType(name='system.ContainerExecution')
  type_id = store.put_execution_type(kind)
  example_gen_config = {
    'custom_config': {
      '@type': 'type.googleapis.com/google.protobuf.Struct',
      'value': {'dataset': 'fashion-mnist', 'train_examples': 3000.0},
    }
  }
  training = {
    'augment_rotation': 10.0,
    'augment_shift': 2.0,
    'augment_zoom': 0.1,
    'batch_size': 128,
    'final_learning_rate_fraction': 0.01,
    'learning_rate': 0.001,
    'normalize_polarity': False,
    'precision': 'auto',
    'seed': 3,
    'strategy': 'default',
    'tpu': None,
    'training_loop': 'fit',
    'validation_examples': None,
  }
  tasks = {
    'MnistExampleGen': {
      'custom_config': json.dumps(example_gen_config, indent=2),
      'input_base': 's3://b/fashion',
      'output_file_format': 5.0,
    },
    'Trainer': {
      'custom_config': json.dumps(training, sort_keys=True),
      'epochs': 18.0,
      'run_fn': 'trainer_module.task.run_fn',
    },
    'ExampleValidator': {'label_drift_bound': 0.08},
    'Evaluator': {'accuracy_threshold': 0.85, 'pipeline_name': 'mnist-tfx'},
    'ServingCheck': {'max_latency_ms': 1000.0, 'timeout_seconds': 900.0},
  }
  run_type = store.put_context_type(mlmd.ContextType(name='system.PipelineRun'))
  [run_id] = store.put_contexts([mlmd.Context(type_id=run_type, name='run-1')])
  for task, params in tasks.items():
    execution = mlmd.Execution(type_id=type_id, last_known_state=mlmd.Execution.COMPLETE)
    KfpStandIn._describe(execution, task, params, dag_id=1)
    store.put_execution(execution, [], [mlmd.Context(id=run_id, type_id=run_type, name='run-1')])
  [run] = runs.runs(store)
  found = runs.summarize_run(store, run).settings
  assert (
    found['dataset'] == 'fashion-mnist'
    and found['train_examples'] == 3000
    and found['eval_examples'] is None
  )
  assert found['epochs'] == 18 and isinstance(found['epochs'], int) and found['seed'] == 3
  assert (
    found['batch_size'] == 128 and found['learning_rate'] == 0.001 and found['precision'] == 'auto'
  )
  assert found['data_dir'] == 's3://b/fashion' and found['accuracy_threshold'] == 0.85
  assert found['label_drift_bound'] == 0.08 and found['serving_latency_bound_ms'] == 1000.0
  assert (
    settings.key_settings(found)
    == 'fashion-mnist epochs=18 batch=128 lr=0.001 precision=auto seed=3 augmented'
  )


def _read_write(output_dir):
  return store_lib.open_store(
    store_lib.sqlite_config(os.path.join(output_dir, 'metadata.sqlite'), False)
  )


def test_provenance_is_recorded_on_the_run_and_read_back(recorded):
  output_dir, _ = recorded
  store = _read_write(output_dir)
  run = runs.runs(store)[0]
  recorded_then = runs.summarize_run(store, run).provenance  # what the recorded run wrote
  assert recorded_then['versions']['TFX'] == '1.16.0' and recorded_then['total_seconds'] > 0
  for key, value in run_record.end_values(run_record.COMPLETE, 123.45).items():
    kind = 'double_value' if isinstance(value, float) else 'string_value'
    setattr(run.custom_properties[key], kind, value)
  store.put_contexts([run])
  summary = runs.summarize_run(store, runs.run_context(store, run.name))
  made = summary.provenance
  assert set(made['versions']) >= {'TensorFlow', 'TFX', 'Beam', 'TFMA', 'MLMD'}
  assert made['versions']['TFX'] == '1.16.0' and made['versions']['TFMA'] == '0.47.1'
  assert made['total_seconds'] == 123.5 and made['machine']['cpus'] == os.cpu_count()
  head = subprocess.run(
    ['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True, text=True
  ).stdout.strip()
  assert made['git_commit'].split()[0] == head


def test_the_commit_is_marked_dirty_when_tracked_files_changed(tmp_path):
  def git(*args):
    return subprocess.run(['git', '-C', str(tmp_path), *args], check=True, capture_output=True)

  git('init', '-q')
  (tmp_path / 'f').write_text('a')
  git('add', 'f')
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'x')
  (tmp_path / 'untracked').write_text('u')
  clean = run_record.git_commit(str(tmp_path))
  assert len(clean) == 40 and not clean.endswith('(dirty)')
  (tmp_path / 'f').write_text('b')
  assert run_record.git_commit(str(tmp_path)) == clean + ' (dirty)'
  assert run_record.git_commit(str(tmp_path / 'untracked')) is None  # not a checkout


def _compare(capsys, output_dir, *args):
  code = cli.main(['--output-dir', output_dir, 'compare', *args])
  out, err = capsys.readouterr()
  return code, out, err


def test_compare_the_last_two_runs(recorded, capsys):
  output_dir, store = recorded
  newer, older = [c.name for c in runs.runs(store)]
  code, out, _ = _compare(capsys, output_dir)
  assert code == 0
  lines = out.splitlines()

  def row(name):
    return next(line for line in lines if line[3:].startswith(name + ' '))

  assert row('run').split()[1:] == [older, newer]  # A is the older
  assert row('test accuracy').split()[2:] == ['0.8890', '0.8890', '(+0.0000)']
  assert row('accuracy_threshold').startswith('*') and row('accuracy_threshold').split()[2:] == [
    '0.5',
    '0.9999',
  ]
  assert row('epochs').split() == ['epochs', '2', '2']  # the same: not marked
  assert (
    row('pushed').startswith('*')
    and 'yes, version 1796669091' in row('pushed')
    and row('pushed').endswith(' no')
  )
  assert row('blessed').split() == ['*', 'blessed', 'yes', 'no']
  # Named explicitly, in either order; JSON.
  code, out, _ = _compare(capsys, output_dir, newer, older, '--json')
  result = json.loads(out)
  assert code == 0 and result['a']['run_id'] == newer and result['b']['run_id'] == older
  assert [s['name'] for s in result['settings'] if s['differs']] == ['accuracy_threshold']
  assert result['a']['pushed'] == 'no' and result['b']['pushed_version'] == '1796669091'


@pytest.mark.parametrize(
  'args, message',
  [
    (['nope', 'nada'], 'error: nope: no such run in this store (see `runs`)'),
    (['one'], 'error: compare takes two run ids, or none for the last two runs'),
  ],
)
def test_compare_errors_are_one_line(recorded, capsys, args, message):
  output_dir, _ = recorded
  code, out, err = _compare(capsys, output_dir, *args)
  assert code == 1 and out == '' and err.strip() == message


def test_per_class_accuracy_changes_from_the_serving_checks_answers(tmp_path):
  """The ServingCheck keeps `classify`'s answers as components/serving_probe.py writes them
  (np.savez: labels [N], probabilities [N, 10]); compare reads them without TensorFlow."""
  labels = np.repeat(np.arange(10), 10)

  def answers(name, wrong):
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 10
    os.makedirs(tmp_path / name)
    np.savez(
      tmp_path / name / 'eval_answers.npz',
      labels=labels,
      probabilities=np.eye(10, dtype=np.float32)[predicted],
    )
    return runs.RunSummary(run_id=name, uris={'InfraBlessing': str(tmp_path / name)})

  a = compare._per_class(answers('a', [0, 1, 95]))
  b = compare._per_class(answers('b', [0]))
  assert a[0] == 0.8 and b[0] == 0.9 and a[9] == 0.9 and b[9] == 1.0 and a[5] == b[5] == 1.0
  rows = [
    {'class': i, 'name': str(i), 'a': a[i], 'b': b[i], 'change': b[i] - a[i]} for i in range(10)
  ]
  side = {
    'run_id': 'x',
    'started': '',
    'state': 'complete',
    'accuracy': 0.97,
    'blessed': True,
    'pushed': 'no',
  }
  lines = render.compare_lines(
    {
      'a': side,
      'b': dict(side, run_id='y', accuracy=0.99),
      'settings': [],
      'accuracy_change': 0.02,
      'per_class': rows,
    }
  )
  text = '\n'.join(lines).splitlines()
  assert '0      0.8000  0.9000  +0.1000' in text and '9      0.9000  1.0000  +0.1000' in text
  assert '5      1.0000  1.0000  +0.0000' in text


def test_runs_shows_the_key_settings(recorded, capsys):
  output_dir, _ = recorded
  assert cli.main(['runs', '--output-dir', output_dir]) == 0
  header, *rows = capsys.readouterr().out.splitlines()
  assert 'SETTINGS' in header
  for row in rows:
    assert row[header.index('SETTINGS') :].startswith('mnist epochs=2 batch=128 lr=0.001 ')


def test_a_run_that_only_mirrors_is_augmented():
  bounds = {
    'dataset': 'fashion-mnist',
    'augment_rotation': 0.0,
    'augment_zoom': 0.0,
    'augment_shift': 0.0,
  }
  assert settings.key_settings(dict(bounds, augment_flip=True)) == 'fashion-mnist augmented'
  assert settings.key_settings(dict(bounds, augment_flip=False)) == 'fashion-mnist no-augment'
  assert settings.key_settings(bounds) == 'fashion-mnist no-augment'  # recorded before the flip
