"""kubeflow.entrypoint: the input types open-source KFP leaves empty are filled from the spec."""

import json
import os
import subprocess
import sys

import pytest

from kubeflow import entrypoint
from tests.conftest import REPO

EXAMPLES_TYPE = {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}
SPEC = {
  'artifacts': {'examples': {'artifactType': EXAMPLES_TYPE}},
  'parameters': {'epochs': {'parameterType': 'NUMBER_INTEGER'}},
}


def _input(artifact_type):
  """An ExecutorInput as the OSS driver builds it (backend/src/v2/metadata/converter.go)."""
  artifact = {'name': '7', 'uri': '/root/p/r/MnistExampleGen/examples', 'metadata': {'span': 0.0}}
  if artifact_type is not None:
    artifact['type'] = artifact_type
  return {
    'inputs': {
      'parameterValues': {'epochs': 1},
      'artifacts': {'examples': {'artifacts': [artifact]}},
    }
  }


@pytest.mark.parametrize(
  'artifact_type',
  [{'instanceSchema': ''}, None, {}],
  ids=['empty-instance-schema', 'no-type', 'empty-type'],
)
def test_missing_types_are_filled_from_the_inputs_spec(artifact_type):
  executor_input = _input(artifact_type)
  assert entrypoint.fill_input_types(executor_input, SPEC) == ['examples']
  [artifact] = executor_input['inputs']['artifacts']['examples']['artifacts']
  assert artifact['type'] == EXAMPLES_TYPE and artifact['name'] == '7'


@pytest.mark.parametrize(
  'artifact_type',
  [
    {'schemaTitle': 'tfx.Examples', 'schemaVersion': '0.0.1'},  # Vertex
    {'instanceSchema': 'title: tfx.Examples\ntype: object\n'},
  ],
)
def test_typed_inputs_are_left_alone(artifact_type):
  executor_input = _input(artifact_type)
  assert entrypoint.fill_input_types(executor_input, SPEC) == []
  assert executor_input['inputs']['artifacts']['examples']['artifacts'][0]['type'] == artifact_type


def test_untyped_input_the_spec_does_not_declare_is_an_error():
  with pytest.raises(ValueError, match="input artifact 'examples' has no type"):
    entrypoint.fill_input_types(_input({'instanceSchema': ''}), {'artifacts': {}})
  argv = [entrypoint.INVOCATION_FLAG, json.dumps(_input({'instanceSchema': ''}))]  # no spec at all
  with pytest.raises(ValueError, match=f'no type .* {entrypoint.INPUTS_SPEC_FLAG}'):
    entrypoint.repair_argv(argv)


@pytest.mark.parametrize('joined', [False, True])
def test_repair_argv_keeps_every_other_argument(joined):
  invocation = json.dumps(_input({'instanceSchema': ''}))
  flag = entrypoint.INVOCATION_FLAG
  argv = [
    '--executor_class_path',
    'components.mnist_trainer.Executor',
    *([f'{flag}={invocation}'] if joined else [flag, invocation]),
    entrypoint.INPUTS_SPEC_FLAG,
    json.dumps(SPEC),
    '--runner=DirectRunner',
  ]
  repaired = entrypoint.repair_argv(argv)
  assert len(repaired) == len(argv)
  changed = [i for i, (a, b) in enumerate(zip(argv, repaired, strict=True)) if a != b]
  assert len(changed) == 1
  value = repaired[changed[0]]
  value = value[len(flag) + 1 :] if joined else value
  assert (
    json.loads(value)['inputs']['artifacts']['examples']['artifacts'][0]['type'] == EXAMPLES_TYPE
  )


@pytest.mark.slow  # two processes that each import TFX: ~12 s
def test_tfx_alone_fails_on_the_oss_input_and_the_entrypoint_does_not(tmp_path):
  """The quirk is real: TFX 1.16's runner dies before the executor on what the OSS driver
  sends (tensorflow/tfx#7768); through our entrypoint the same call reaches the executor."""
  model = tmp_path / 'model'
  executor_input = {
    'inputs': {
      'artifacts': {
        'candidate': {
          'artifacts': [
            {'name': '3', 'uri': str(model), 'metadata': {}, 'type': {'instanceSchema': ''}}
          ]
        }
      },
      'parameterValues': {'mlmd_address': '127.0.0.1:9', 'pipeline_name': 'p'},
    },
    'outputs': {
      'artifacts': {
        'baseline_uri': {
          'artifacts': [
            {
              'uri': str(tmp_path / 'out'),
              'type': {'instanceSchema': 'title: tfx.String\ntype: object\n'},
            }
          ]
        }
      },
      'parameters': {'baseline_uri': {'outputFile': str(tmp_path / 'baseline_uri')}},
      'outputFile': str(tmp_path / 'kfp_outputs' / 'output_metadata.json'),
    },
  }
  spec = {
    'artifacts': {
      'candidate': {'artifactType': {'instanceSchema': 'title: tfx.Model\ntype: object\n'}}
    }
  }
  args = [
    '--executor_class_path',
    'components.latest_blessed_model.Executor',
    '--json_serialized_invocation_args',
    json.dumps(executor_input),
    '--json_serialized_inputs_spec_args',
    json.dumps(spec),
  ]
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3')
  tfx_alone = subprocess.run(
    [sys.executable, '-m', entrypoint.TFX_RUNNER, *args],
    cwd=str(tmp_path),
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert tfx_alone.returncode != 0
  assert "'NoneType' object has no attribute 'get'" in tfx_alone.stderr
  ours = subprocess.run(
    [sys.executable, '-m', 'kubeflow.entrypoint', *args],
    cwd=str(tmp_path),
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  # It gets as far as the executor, which then finds no ML Metadata service on port 9.
  assert ours.returncode != 0
  assert "'NoneType' object has no attribute 'get'" not in ours.stderr
  assert 'Starting executor' in ours.stderr and '127.0.0.1:9' in ours.stderr, ours.stderr[-3000:]


# ---------------------------------------------------------------- what each KFP release sends

from tests.kubeflow import kfp_standin  # noqa: E402  (the stand-in's own provisionOutputs)

SCHEMA_TYPE = {'instanceSchema': 'title: tfx.Schema\ntype: object\n'}
STATISTICS_TYPE = {'instanceSchema': 'title: tfx.ExampleStatistics\ntype: object\n'}
STATISTICS_COMPONENT = {
  'outputDefinitions': {'artifacts': {'statistics': {'artifactType': STATISTICS_TYPE}}}
}


def _from_release(profile, tmp_path, root='s3://mlpipeline/artifacts'):
  """StatisticsGen's executor input as `profile`'s driver builds it: its examples input from ML
  Metadata (no type; store_session_info from 2.3.0) and the outputs provisionOutputs gives."""
  metadata = {'display_name': 'examples', 'span': 0.0}
  if profile.store_session_info:
    metadata['store_session_info'] = kfp_standin.session_info(root)
  outputs = kfp_standin.provision_outputs(
    profile, STATISTICS_COMPONENT, f'{root}/p/run-1', 'StatisticsGen', str(tmp_path / 'pod')
  )
  return {
    'inputs': {
      'parameterValues': {'exclude_splits': '[]'},
      'artifacts': {
        'examples': {
          'artifacts': [
            {
              'name': '7',
              'uri': f'{root}/p/run-0/MnistExampleGen/examples',
              'metadata': metadata,
              'type': {'instanceSchema': ''},
            }
          ]
        }
      },
    },
    'outputs': outputs,
  }


def _tfx_parses(executor_input):
  """What TFX 1.16's runner does with the invocation before the executor starts."""
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils

  message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
  names = {}
  return (
    utils.parse_raw_artifact_dict(message.inputs.artifacts, names),
    utils.parse_raw_artifact_dict(message.outputs.artifacts, names),
  )


def test_tfx_alone_cannot_import_the_executor_logs_type_of_the_newest_release(tmp_path):
  """KFP 2.17 with its default log publishing adds `executor-logs` (system.Artifact) to every
  task's outputs; TFX tries to import that title as a class."""
  executor_input = _from_release(kfp_standin.NEWEST, tmp_path)
  logs = executor_input['outputs']['artifacts']['executor-logs']['artifacts'][0]
  assert logs['type'] == {'schemaTitle': 'system.Artifact'} and logs['name'] == 'executor-logs'
  entrypoint.fill_input_types(
    executor_input,
    {
      'artifacts': {
        'examples': {'artifactType': {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}}
      }
    },
  )
  with pytest.raises(ImportError, match='Could not import system.Artifact'):
    _tfx_parses(executor_input)


@pytest.mark.parametrize('tag', sorted(kfp_standin.PROFILES))
def test_what_every_release_sends_reaches_tfx_with_only_the_declared_outputs(tag, tmp_path):
  profile = kfp_standin.PROFILES[tag]
  executor_input = _from_release(profile, tmp_path)
  spec = {
    'artifacts': {
      'examples': {'artifactType': {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}}
    }
  }
  argv = [
    entrypoint.INVOCATION_FLAG,
    json.dumps(executor_input),
    entrypoint.INPUTS_SPEC_FLAG,
    json.dumps(spec),
  ]
  repaired = json.loads(entrypoint.repair_argv(argv)[1])
  inputs, outputs = _tfx_parses(repaired)
  assert set(outputs) == {'statistics'}  # executor-logs stays the launcher's
  assert ('executor-logs' in executor_input['outputs']['artifacts']) == profile.publish_logs
  [examples] = inputs['examples']
  assert examples.uri.endswith('/MnistExampleGen/examples')
  session = examples.mlmd_artifact.custom_properties.get('store_session_info')
  assert (session is not None) == profile.store_session_info
  # TFX's temp dir and unique id come from outputs.outputFile (kubeflow_v2_run_executor):
  # from 2.15.0 the task root's local path, so the id is the task's own; before, one fixed path.
  output_file = repaired['outputs']['outputFile']
  [statistics] = outputs['statistics']
  if profile.task_root_layout:
    task_root = statistics.uri.rsplit('/', 1)[0]
    assert output_file.endswith(kfp_standin.local_path_for_uri(task_root) + '/output_metadata.json')
    assert os.path.basename(os.path.dirname(output_file)) == task_root.rsplit('/', 1)[1]
  else:
    assert output_file.endswith(kfp_standin.LEGACY_OUTPUT_FILE)
  # An output named after its key (2.15.0+) or unnamed: TFX hashes the name, if any, into the id.
  assert bool(statistics.id) == profile.task_root_layout


def test_only_the_launchers_outputs_are_hidden():
  executor_input = {
    'outputs': {
      'artifacts': {
        'executor-logs': {
          'artifacts': [{'uri': 's3://b/l', 'type': {'schemaTitle': 'system.Artifact'}}]
        },
        'metrics': {'artifacts': [{'uri': 's3://b/m', 'type': {'schemaTitle': 'system.Metrics'}}]},
        'schema': {'artifacts': [{'uri': 's3://b/s', 'type': SCHEMA_TYPE}]},
      }
    }
  }
  assert entrypoint.hide_launcher_outputs(executor_input) == ['executor-logs', 'metrics']
  assert list(executor_input['outputs']['artifacts']) == ['schema']
