"""The compiled tasks' container commands, run as a pod runs them: through the stand-in's launcher
(kfp_standin.py, the one emulation of KFP's driver and launcher, written from their sources), so
each task gets the ExecutorInput the backend builds (upstream artifacts with the empty type the
open-source driver sends, KFP's own executor-logs output, the parameters a run sets), `{{$}}` and
the placeholders are filled, and the command runs in a subprocess with `python` resolving to this
project's environment and PYTHONPATH as the image sets it. Vertex runs ExampleGen's driver hook
first; open-source KFP never does."""

import json
import os

import pytest

from tests.kubeflow.conftest import compile_on_local_root
from tests.kubeflow.kfp_standin import LOGS_KEY, KfpStandIn

pytestmark = pytest.mark.slow
SMALL = ('--train-examples', '1000', '--eval-examples', '200')
TO_TRAINER = ['MnistExampleGen', 'ImportSchemaGen', 'StatisticsGen', 'ExampleValidator', 'Trainer']


@pytest.fixture(scope='module')
def pod_runs(tmp_path_factory, mnist_dir, mlmd_service):
  address, store = mlmd_service
  work = str(tmp_path_factory.mktemp('pods'))
  root = os.path.join(work, 'root')
  flags = ('--data-dir', mnist_dir, '--mlmd-address', address, *SMALL)
  _, spec = compile_on_local_root(os.path.join(work, 'kfp'), root, *flags)
  output, _ = compile_on_local_root(
    os.path.join(work, 'vertex'), root, *flags, '--target', 'vertex'
  )
  with open(os.path.splitext(output)[0] + '.json') as f:
    job = json.load(f)
  # Vertex: the driver hook, then the executor; its parameters join the execution's inputs.
  vertex = KfpStandIn(
    store, os.path.join(work, 'vertex-backend'), vertex=True, allow_local_root=True
  )
  with_driver = vertex.run(job, os.path.join(root, 'vertex'), only=['MnistExampleGen'])
  # Open-source KFP: no driver hook; the Trainer with the run's `epochs` parameter set to 1.
  kfp = KfpStandIn(store, os.path.join(work, 'kfp-backend'), allow_local_root=True)
  no_driver = kfp.run(spec, os.path.join(root, 'kfp'), {'epochs': 1}, only=TO_TRAINER)
  return store, with_driver, no_driver


def test_example_gen_driver_fingerprints_the_input(pod_runs):
  store, with_driver, _ = pod_runs
  [gen] = store.get_executions_by_id([with_driver.tasks['MnistExampleGen'].execution_id])
  inputs = gen.custom_properties['inputs'].struct_value
  assert inputs['span'] == 0
  assert inputs['input_fingerprint'].startswith('split:train,num_files:2,')
  assert 'split:eval,num_files:2,' in inputs['input_fingerprint']


@pytest.mark.parametrize('with_driver', [True, False], ids=['vertex-with-driver', 'kfp-no-driver'])
def test_example_gen_executor_writes_splits_and_digests(pod_runs, with_driver):
  run = pod_runs[1] if with_driver else pod_runs[2]
  examples = run.output('MnistExampleGen', 'examples')
  metadata = examples['metadata']
  assert metadata['sha256_train_images'].startswith('ba891046')
  assert metadata['train_examples'] == 1000 and metadata['eval_examples'] == 200
  assert json.loads(metadata['split_names']) == ['train', 'eval']
  for split in ('train', 'eval'):
    files = os.listdir(os.path.join(examples['uri'], f'Split-{split}'))
    assert files and all(f.endswith('.gz') for f in files)


def test_trainer_trains_with_the_epochs_parameter_and_exports(pod_runs):
  _, _, run = pod_runs
  model_uri = run.output('Trainer', 'model')['uri']
  run_uri = run.output('Trainer', 'model_run')['uri']
  assert os.path.exists(os.path.join(model_uri, 'Format-Serving', 'saved_model.pb'))
  with open(os.path.join(run_uri, 'history.json')) as f:
    history = json.load(f)
  assert len(history['accuracy']) == 1, 'the epochs=1 parameter overrides the compiled default'
  assert set(run.tasks['Trainer'].outputs) == {'model', 'model_run', LOGS_KEY}
