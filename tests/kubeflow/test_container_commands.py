"""Runs the compiled tasks' container commands locally, exactly as a KFP 2.x pod would.

For each task: an ExecutorInput is built from the compiled spec the way the KFP launcher
builds it (parameterValues, typed input/output artifacts, an outputFile), `{{$}}` in the
compiled args is replaced by it, and the compiled command runs in a subprocess with `python`
resolving to this project's environment and PYTHONPATH as the image sets it.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.kubeflow.conftest import compile_on_local_root

pytestmark = pytest.mark.slow


def _executor_input(spec, task, work, overrides=None, input_artifacts=None):
  task_spec = spec['root']['dag']['tasks'][task]
  component = spec['components'][task_spec['componentRef']['name']]
  root_params = spec['root']['inputDefinitions']['parameters']
  values = {}
  for name, source in task_spec['inputs'].get('parameters', {}).items():
    if 'runtimeValue' in source:
      values[name] = source['runtimeValue']['constant']
    else:
      pipeline_param = source['componentInputParameter']
      values[name] = (overrides or {}).get(
        pipeline_param, root_params[pipeline_param]['defaultValue']
      )
  task_dir = os.path.join(work, task)
  outputs = {}
  for name, definition in component['outputDefinitions']['artifacts'].items():
    outputs[name] = {
      'artifacts': [
        {
          'name': f'{task}-{name}',
          'type': definition['artifactType'],
          'uri': os.path.join(task_dir, name),
          'metadata': {},
        }
      ]
    }
  inputs = {'parameterValues': values}
  if input_artifacts:
    inputs['artifacts'] = {
      name: {
        'artifacts': [
          dict(artifact, type=component['inputDefinitions']['artifacts'][name]['artifactType'])
        ]
      }
      for name, artifact in input_artifacts.items()
    }
  return {
    'inputs': inputs,
    'outputs': {'artifacts': outputs, 'outputFile': os.path.join(task_dir, 'executor_output.json')},
  }


def _run_pod_command(container, executor_input, cwd):
  argv = list(container['command']) + [
    json.dumps(executor_input) if arg == '{{$}}' else arg for arg in container['args']
  ]
  assert argv[0] == 'python'
  env = dict(
    os.environ,
    PYTHONPATH=REPO,
    TF_CPP_MIN_LOG_LEVEL='3',
    PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
  )
  proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-5000:]
  with open(executor_input['outputs']['outputFile']) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def pod_runs(tmp_path_factory, mnist_dir):
  work = str(tmp_path_factory.mktemp('pods'))
  _, spec = compile_on_local_root(
    work,
    os.path.join(work, 'root'),
    '--data-dir',
    mnist_dir,
    '--train-examples',
    '1000',
    '--eval-examples',
    '200',
  )
  executors = spec['deploymentSpec']['executors']
  example_gen = executors['MnistExampleGen_executor']['container']

  # ExampleGen: the driver (preCacheCheck), then the executor, with the same ExecutorInput.
  gen_input = _executor_input(spec, 'MnistExampleGen', work)
  driver_output = _run_pod_command(example_gen['lifecycle']['preCacheCheck'], gen_input, work)
  gen_output = _run_pod_command(example_gen, gen_input, work)
  # Open-source KFP ignores the preCacheCheck hook: the executor must also work on its own.
  alone_input = _executor_input(spec, 'MnistExampleGen', os.path.join(work, 'no-driver'))
  alone_output = _run_pod_command(example_gen, alone_input, work)

  # Trainer: on ExampleGen's output artifact, with the `epochs` pipeline parameter set to 1.
  examples = gen_output['artifacts']['examples']['artifacts'][0]
  trainer_input = _executor_input(
    spec, 'Trainer', work, overrides={'epochs': 1}, input_artifacts={'examples': examples}
  )
  trainer_output = _run_pod_command(executors['Trainer_executor']['container'], trainer_input, work)
  return spec, driver_output, gen_output, trainer_input, trainer_output, alone_output


def test_example_gen_driver_fingerprints_the_input(pod_runs):
  _, driver_output, *_ = pod_runs
  values = driver_output['parameterValues']
  assert values['span'] == 0
  assert values['input_fingerprint'].startswith('split:train,num_files:2,')
  assert 'split:eval,num_files:2,' in values['input_fingerprint']


@pytest.mark.parametrize('with_driver', [True, False], ids=['vertex-with-driver', 'kfp-no-driver'])
def test_example_gen_executor_writes_splits_and_digests(pod_runs, with_driver):
  gen_output = pod_runs[2] if with_driver else pod_runs[5]
  [examples] = gen_output['artifacts']['examples']['artifacts']
  metadata = examples['metadata']
  assert metadata['sha256_train_images'].startswith('ba891046')
  assert metadata['train_examples'] == 1000 and metadata['eval_examples'] == 200
  assert json.loads(metadata['split_names']) == ['train', 'eval']
  for split in ('train', 'eval'):
    files = os.listdir(os.path.join(examples['uri'], f'Split-{split}'))
    assert files and all(f.endswith('.gz') for f in files)


def test_trainer_trains_with_the_epochs_parameter_and_exports(pod_runs):
  _, _, _, trainer_input, trainer_output, _ = pod_runs
  model_uri = trainer_input['outputs']['artifacts']['model']['artifacts'][0]['uri']
  run_uri = trainer_input['outputs']['artifacts']['model_run']['artifacts'][0]['uri']
  assert os.path.exists(os.path.join(model_uri, 'Format-Serving', 'saved_model.pb'))
  with open(os.path.join(run_uri, 'history.json')) as f:
    history = json.load(f)
  assert len(history['accuracy']) == 1, 'the epochs=1 parameter overrides the compiled default'
  assert set(trainer_output['artifacts']) == {'model', 'model_run'}
