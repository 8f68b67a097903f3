"""kubeflow.entrypoint: the input types open-source KFP leaves empty are filled from the spec."""
import json
import os
import subprocess
import sys

import pytest

from kubeflow import entrypoint
from tests.conftest import REPO

EXAMPLES_TYPE = {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}
SPEC = {'artifacts': {'examples': {'artifactType': EXAMPLES_TYPE}},
        'parameters': {'epochs': {'parameterType': 'NUMBER_INTEGER'}}}


def _input(artifact_type):
  """An ExecutorInput as the OSS driver builds it (backend/src/v2/metadata/converter.go)."""
  artifact = {'name': '7', 'uri': '/root/p/r/MnistExampleGen/examples', 'metadata': {'span': 0.0}}
  if artifact_type is not None:
    artifact['type'] = artifact_type
  return {'inputs': {'parameterValues': {'epochs': 1},
                     'artifacts': {'examples': {'artifacts': [artifact]}}}}


@pytest.mark.parametrize('artifact_type', [{'instanceSchema': ''}, None, {}],
                         ids=['empty-instance-schema', 'no-type', 'empty-type'])
def test_missing_types_are_filled_from_the_inputs_spec(artifact_type):
  executor_input = _input(artifact_type)
  assert entrypoint.fill_input_types(executor_input, SPEC) == ['examples']
  [artifact] = executor_input['inputs']['artifacts']['examples']['artifacts']
  assert artifact['type'] == EXAMPLES_TYPE and artifact['name'] == '7'


@pytest.mark.parametrize('artifact_type', [
    {'schemaTitle': 'tfx.Examples', 'schemaVersion': '0.0.1'},  # Vertex
    {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}])
def test_typed_inputs_are_left_alone(artifact_type):
  executor_input = _input(artifact_type)
  assert entrypoint.fill_input_types(executor_input, SPEC) == []
  assert executor_input['inputs']['artifacts']['examples']['artifacts'][0]['type'] == artifact_type


def test_untyped_input_the_spec_does_not_declare_is_an_error():
  with pytest.raises(ValueError, match="input artifact 'examples' has no type"):
    entrypoint.fill_input_types(_input({'instanceSchema': ''}), {'artifacts': {}})
  argv = [entrypoint.INVOCATION_FLAG, json.dumps(_input({'instanceSchema': ''}))]  # no spec at all
  with pytest.raises(ValueError, match=f"no type .* {entrypoint.INPUTS_SPEC_FLAG}"):
    entrypoint.repair_argv(argv)


@pytest.mark.parametrize('joined', [False, True])
def test_repair_argv_keeps_every_other_argument(joined):
  invocation = json.dumps(_input({'instanceSchema': ''}))
  flag = entrypoint.INVOCATION_FLAG
  argv = ['--executor_class_path', 'components.mnist_trainer.Executor',
          *([f'{flag}={invocation}'] if joined else [flag, invocation]),
          entrypoint.INPUTS_SPEC_FLAG, json.dumps(SPEC), '--runner=DirectRunner']
  repaired = entrypoint.repair_argv(argv)
  assert len(repaired) == len(argv)
  changed = [i for i, (a, b) in enumerate(zip(argv, repaired)) if a != b]
  assert len(changed) == 1
  value = repaired[changed[0]]
  value = value[len(flag) + 1:] if joined else value
  assert json.loads(value)['inputs']['artifacts']['examples']['artifacts'][0]['type'] == EXAMPLES_TYPE


@pytest.mark.slow  # two processes that each import TFX: ~12 s
def test_tfx_alone_fails_on_the_oss_input_and_the_entrypoint_does_not(tmp_path):
  """The quirk is real: TFX 1.16's runner dies before the executor on what the OSS driver
  sends (tensorflow/tfx#7768); through our entrypoint the same call reaches the executor."""
  model = tmp_path / 'model'
  executor_input = {
      'inputs': {'artifacts': {'candidate': {'artifacts': [
          {'name': '3', 'uri': str(model), 'metadata': {}, 'type': {'instanceSchema': ''}}]}},
                 'parameterValues': {'mlmd_address': '127.0.0.1:9', 'pipeline_name': 'p'}},
      'outputs': {'artifacts': {'model': {'artifacts': [{
          'uri': str(tmp_path / 'out'), 'type': {'instanceSchema': 'title: tfx.Model\ntype: object\n'}}]}},
                  'outputFile': str(tmp_path / 'kfp_outputs' / 'output_metadata.json')}}
  spec = {'artifacts': {'candidate': {'artifactType': {
      'instanceSchema': 'title: tfx.Model\ntype: object\n'}}}}
  args = ['--executor_class_path', 'components.latest_blessed_model.Executor',
          '--json_serialized_invocation_args', json.dumps(executor_input),
          '--json_serialized_inputs_spec_args', json.dumps(spec)]
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3')
  tfx_alone = subprocess.run([sys.executable, '-m', entrypoint.TFX_RUNNER, *args], cwd=str(tmp_path),
                             env=env, capture_output=True, text=True, timeout=300)
  assert tfx_alone.returncode != 0
  assert "'NoneType' object has no attribute 'get'" in tfx_alone.stderr
  ours = subprocess.run([sys.executable, '-m', 'kubeflow.entrypoint', *args], cwd=str(tmp_path),
                        env=env, capture_output=True, text=True, timeout=300)
  # It gets as far as the executor, which then finds no ML Metadata service on port 9.
  assert ours.returncode != 0
  assert "'NoneType' object has no attribute 'get'" not in ours.stderr
  assert 'Starting executor' in ours.stderr and '127.0.0.1:9' in ours.stderr, ours.stderr[-3000:]
