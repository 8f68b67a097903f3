"""`python -m kubeflow compile`: what KFP 2.x and Vertex would be handed, checked strictly.

Most tests compile in this process (conftest.compile_to: the CLI's parser and _compile()); the
slow ones run the real command in a subprocess, offline too, and check it writes the same files."""

import json
import os
import subprocess
import sys

import kfp
import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.utils import import_utils

from tests.conftest import REPO
from tests.kubeflow.conftest import IMAGE, compile_to, run_cli
from trainer_module.config import TrainingConfig

BEAM_ARGS = ['--runner=DataflowRunner', '--project=p', '--region=europe-west4']


def test_yaml_loads_in_kfp_and_parses_strictly(compiled):
  path, spec = compiled
  component = kfp.components.load_component_from_file(path)
  assert component.name == 'mnist-tfx'
  parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # unknown field → error
  assert parsed.pipeline_info.name == 'mnist-tfx'
  assert parsed.default_pipeline_root == 'gs://bucket/root'
  assert parsed.schema_version == '2.1.0'


def test_json_is_a_pipeline_job_with_runtime_config(compiled):
  path, spec = compiled
  with open(path.replace('.yaml', '.json')) as f:
    job = json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineJob())
  assert job.runtime_config.gcs_output_directory == 'gs://bucket/root'
  values = job.runtime_config.parameter_values
  assert values['data_dir'].string_value == 'gs://bucket/root/data/mnist'
  assert values['epochs'].number_value == TrainingConfig().epochs
  assert values['accuracy_threshold'].number_value == 0.99
  assert json_format.MessageToDict(job.pipeline_spec)['root'] == spec['root']


def _deps(spec):
  tasks = spec['root']['dag']['tasks']
  edges = set()
  for name, task in tasks.items():
    for artifact in task.get('inputs', {}).get('artifacts', {}).values():
      edges.add((artifact['taskOutputArtifact']['producerTask'], name))
    for parameter in task.get('inputs', {}).get('parameters', {}).values():
      if 'taskOutputParameter' in parameter:
        edges.add((parameter['taskOutputParameter']['producerTask'], name))
  return tasks, edges


# Data validation: statistics and the checked-in schema feed the ExampleValidator, and
# the Trainer waits for it (a dependency without an artifact: a failed validation stops the run).
VALIDATION_TASKS = {'ImportSchemaGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator'}
VALIDATION_EDGES = {
  ('MnistExampleGen', 'StatisticsGen'),
  ('ImportSchemaGen', 'StatisticsGen'),
  ('StatisticsGen', 'SchemaGen'),
  ('StatisticsGen', 'ExampleValidator'),
  ('ImportSchemaGen', 'ExampleValidator'),
}


def _check_validation(tasks, edges):
  assert VALIDATION_EDGES <= edges
  assert 'ExampleValidator' in tasks['Trainer']['dependentTasks']
  # A path relative to the code's root (the image's /pipeline), wherever the task runs.
  assert tasks['ImportSchemaGen']['inputs']['parameters']['schema_file'] == {
    'runtimeValue': {'constant': 'components/schema/schema.pbtxt'}
  }
  assert tasks['ExampleValidator']['inputs']['parameters']['label_drift_bound'] == {
    'runtimeValue': {'constant': 0.08}
  }


def test_dag_for_open_source_kfp(compiled):
  _, spec = compiled
  tasks, edges = _deps(spec)
  assert set(tasks) == {
    'MnistExampleGen',
    'Trainer',
    'LatestBlessedModel',
    'BaselineModel',
    'Evaluator',
    'ServingCheck',
    'Pusher',
    'RunResults',
    *VALIDATION_TASKS,
  }
  assert edges == {
    *VALIDATION_EDGES,
    ('MnistExampleGen', 'Trainer'),
    ('MnistExampleGen', 'Evaluator'),
    ('Trainer', 'Evaluator'),
    ('Trainer', 'LatestBlessedModel'),
    ('LatestBlessedModel', 'BaselineModel'),
    ('Trainer', 'BaselineModel'),
    ('BaselineModel', 'Evaluator'),
    ('Trainer', 'Pusher'),
    ('Evaluator', 'Pusher'),
    ('MnistExampleGen', 'ServingCheck'),
    ('Trainer', 'ServingCheck'),
    ('Evaluator', 'ServingCheck'),
    ('ServingCheck', 'Pusher'),
    ('MnistExampleGen', 'RunResults'),
    ('Trainer', 'RunResults'),
    ('Evaluator', 'RunResults'),
    ('ServingCheck', 'RunResults'),
    ('Pusher', 'RunResults'),
  }
  _check_validation(tasks, edges)
  # Open-source KFP refuses `resolver` executors; the baseline lookup is a container instead,
  # never cached (its answer depends on the metadata store, not on its inputs). It hands the
  # baseline's URI to BaselineModel as a parameter, by the task's real name (TFX writes
  # `LatestBlessedModel_task`), so BaselineModel, cached, keeps its key on an unchanged rerun.
  executors = spec['deploymentSpec']['executors']
  assert all('container' in e for e in executors.values())
  assert tasks['LatestBlessedModel']['cachingOptions'] == {'enableCache': False}
  assert tasks['BaselineModel']['cachingOptions'] == {'enableCache': True}
  assert tasks['BaselineModel']['inputs']['parameters']['source_uri'] == {
    'taskOutputParameter': {
      'producerTask': 'LatestBlessedModel',
      'outputParameterKey': 'baseline_uri',
    }
  }
  assert spec['components']['LatestBlessedModel']['outputDefinitions']['parameters'] == {
    'baseline_uri': {'parameterType': 'STRING'}
  }
  assert tasks['Evaluator']['inputs']['artifacts']['baseline_model'] == {
    'taskOutputArtifact': {'producerTask': 'BaselineModel', 'outputArtifactKey': 'model'}
  }
  assert tasks['LatestBlessedModel']['inputs']['parameters']['mlmd_address'] == {
    'runtimeValue': {'constant': 'metadata-grpc-service.kubeflow:8080'}
  }
  assert tasks['LatestBlessedModel']['inputs']['parameters']['pipeline_name'] == {
    'runtimeValue': {'constant': 'mnist-tfx'}
  }


def test_dag_for_vertex_keeps_tfx_resolver(tmp_path):
  _, spec = compile_to(str(tmp_path), '--pipeline-root', 'gs://bucket/root', '--target', 'vertex')
  tasks, edges = _deps(spec)
  resolvers = [t for t in tasks if t.startswith('LatestBlessedModelResolver')]
  model_resolver = [t for t in resolvers if t.endswith('model-resolver')]
  assert model_resolver and (model_resolver[0], 'Evaluator') in edges
  assert ('MnistExampleGen', 'Trainer') in edges and ('Trainer', 'Evaluator') in edges
  assert ('Evaluator', 'Pusher') in edges
  _check_validation(tasks, edges)
  assert ('ServingCheck', 'Pusher') in edges and ('Evaluator', 'ServingCheck') in edges
  executors = spec['deploymentSpec']['executors']
  assert any('resolver' in e for e in executors.values())
  # Vertex's store is shared by the project's pipelines: only this pipeline's blessings count.
  [blessing_query] = [
    q['filter']
    for e in executors.values()
    for q in e.get('resolver', {}).get('outputArtifactQueries', {}).values()
    if 'tfx.ModelBlessing' in q['filter']
  ]
  assert blessing_query.endswith(' AND metadata.pipeline_name.string_value="mnist-tfx"')


def test_every_executor_uses_the_image_and_imports(compiled):
  _, spec = compiled
  containers = {
    label: e['container']
    for label, e in spec['deploymentSpec']['executors'].items()
    if 'container' in e
  }
  assert set(containers) == {
    'MnistExampleGen_executor',
    'Trainer_executor',
    'Evaluator_executor',
    'ServingCheck_executor',
    'Pusher_executor',
    'LatestBlessedModel_executor',
    'BaselineModel_executor',
    'RunResults_executor',
    *(f'{task}_executor' for task in VALIDATION_TASKS),
  }
  class_paths = {}
  for label, container in containers.items():
    assert container['image'] == IMAGE
    if label == 'RunResults_executor':  # a plain KFP task, not a TFX executor
      assert container['command'] == ['python', '-m', 'kubeflow.run_results']
      continue
    # Every TFX executor runs through our entrypoint, which repairs OSS KFP's untyped inputs.
    assert container['command'] == ['python', '-m', 'kubeflow.entrypoint']
    args = container['args']
    class_paths[label] = args[args.index('--executor_class_path') + 1]
  assert class_paths['MnistExampleGen_executor'] == 'components.mnist_example_gen.Executor'
  assert class_paths['Trainer_executor'] == 'components.mnist_trainer.Executor'
  assert class_paths['Evaluator_executor'] == 'components.mnist_evaluator.Executor'
  assert class_paths['LatestBlessedModel_executor'] == 'components.latest_blessed_model.Executor'
  assert class_paths['BaselineModel_executor'] == 'components.latest_blessed_model.BaselineExecutor'
  assert class_paths['Pusher_executor'] == 'components.mnist_pusher.Executor'
  assert class_paths['ExampleValidator_executor'] == 'components.data_validation.Executor'
  assert class_paths['StatisticsGen_executor'] == 'tfx.components.statistics_gen.executor.Executor'
  assert (
    class_paths['ImportSchemaGen_executor'] == 'components.data_validation.ImportSchemaExecutor'
  )
  assert class_paths['ServingCheck_executor'] == 'components.serving_check.Executor'
  for path in class_paths.values():
    import_utils.import_class_by_path(path)
  run_fn = spec['root']['dag']['tasks']['Trainer']['inputs']['parameters']['run_fn']
  assert run_fn['runtimeValue']['constant'] == 'trainer_module.task.run_fn'
  import_utils.import_func_from_module('trainer_module.task', 'run_fn')


def test_beam_args_reach_every_beam_component(tmp_path):
  _, spec = compile_to(
    str(tmp_path), '--pipeline-root', 'gs://bucket/root', '--beam-args', ' '.join(BEAM_ARGS)
  )
  executors = spec['deploymentSpec']['executors']
  for label in ('MnistExampleGen_executor', 'Evaluator_executor'):
    container = executors[label]['container']
    assert container['args'][-len(BEAM_ARGS) :] == BEAM_ARGS
  driver = executors['MnistExampleGen_executor']['container']['lifecycle']['preCacheCheck']
  assert driver['args'][-len(BEAM_ARGS) :] == BEAM_ARGS
  # The driver hook goes through our entrypoint too (it sets up s3:// before TFX reads input_base).
  assert driver['command'] == ['python', '-m', 'kubeflow.entrypoint', '--example_gen_driver']


def test_pipeline_parameters(compiled):
  _, spec = compiled
  root = spec['root']['inputDefinitions']['parameters']
  assert root == {
    'data_dir': {
      'parameterType': 'STRING',
      'defaultValue': 'gs://bucket/root/data/mnist',
      'isOptional': True,
    },
    'epochs': {
      'parameterType': 'NUMBER_INTEGER',
      'defaultValue': TrainingConfig().epochs,
      'isOptional': True,
    },
    'accuracy_threshold': {
      'parameterType': 'NUMBER_DOUBLE',
      'defaultValue': 0.99,
      'isOptional': True,
    },
  }
  tasks = spec['root']['dag']['tasks']
  assert tasks['MnistExampleGen']['inputs']['parameters']['input_base'] == {
    'componentInputParameter': 'data_dir'
  }
  assert tasks['Trainer']['inputs']['parameters']['epochs'] == {'componentInputParameter': 'epochs'}
  assert tasks['Evaluator']['inputs']['parameters']['accuracy_threshold'] == {
    'componentInputParameter': 'accuracy_threshold'
  }
  pusher = tasks['Pusher']['inputs']['parameters']['push_destination']['runtimeValue']['constant']
  assert 'gs://bucket/root/serving' in pusher


def test_flags_reach_the_compiled_spec_and_nothing_is_written(tmp_path):
  _, spec = compile_to(
    str(tmp_path),
    '--pipeline-root',
    's3://bucket/root',
    '--data-dir',
    's3://data/mnist',
    '--epochs',
    '3',
    '--accuracy-threshold',
    '0.95',
    '--batch-size',
    '64',
    '--serving-dir',
    's3://models/mnist',
    '--train-examples',
    '500',
  )
  assert sorted(os.listdir(tmp_path)) == ['build'], 'compiling writes only the two files'
  params = spec['root']['inputDefinitions']['parameters']
  assert params['data_dir']['defaultValue'] == 's3://data/mnist'
  assert params['epochs']['defaultValue'] == 3
  assert params['accuracy_threshold']['defaultValue'] == 0.95
  trainer = spec['root']['dag']['tasks']['Trainer']['inputs']['parameters']
  assert json.loads(trainer['custom_config']['runtimeValue']['constant'])['batch_size'] == 64
  pusher = spec['root']['dag']['tasks']['Pusher']['inputs']['parameters']
  assert 's3://models/mnist' in pusher['push_destination']['runtimeValue']['constant']


def test_compile_usage_errors(tmp_path):
  proc = run_cli('compile', '--output', str(tmp_path / 'p.yaml'), '--image', IMAGE)
  assert proc.returncode == 2 and '--pipeline-root' in proc.stderr
  proc = run_cli(
    'compile', '--output', str(tmp_path / 'p.txt'), '--image', IMAGE, '--pipeline-root', 'gs://b/r'
  )
  assert proc.returncode == 1
  assert proc.stderr.strip() == f'error: --output must end in .yaml or .yml, got {tmp_path}/p.txt'
  assert not os.path.exists(tmp_path / 'p.txt')


@pytest.mark.parametrize(
  'flags, message',
  [
    (
      ['--image', 'registry.example.com/mnist:dev latest'],
      "--image 'registry.example.com/mnist:dev latest' is not an image reference",
    ),
    (['--image', 'mnist:dev\nrm -rf /'], 'is not an image reference'),
    (['--pipeline-root', 'bucket/root'], 'use gs://BUCKET/PATH, s3://BUCKET/PATH'),
    (['--pipeline-root', '/mnt/pvc/root'], 'KFP and Vertex take only an object-store root'),
    (['--pipeline-root', 'gs://bucket/root?x=1'], 'no query, fragment'),
    (['--serving-dir', 's3://bucket'], 'name a folder inside the bucket'),
    (['--data-dir', 'data/mnist'], '--data-dir data/mnist: not gs://BUCKET/PATH'),
    (['--pipeline-root', 'http://host/root'], 'unsupported scheme http://'),
    (['--pipeline-root', 'minio://mlpipeline/v2/artifacts'], 'use s3://mlpipeline/v2/artifacts'),
    (['--pipeline-root', 'gs:///root'], 'names no bucket'),
    (['--pipeline-root', 'gs://bucket/root with space'], 'must not be empty or contain spaces'),
    (['--serving-dir', 'models'], '--serving-dir models: not gs://BUCKET/PATH'),
    (['--mlmd-address', 'http://metadata:8080'], 'expected HOST:PORT'),
    (
      ['--mlmd-address', 'metadata-grpc-service.kubeflow'],
      "--mlmd-address 'metadata-grpc-service.kubeflow': expected HOST:PORT",
    ),
    (['--mlmd-address', 'host:99999'], 'expected HOST:PORT'),
    (
      ['--pipeline-name', 'MNIST_pipeline'],
      "--pipeline-name 'MNIST_pipeline': use 1-128 lower-case",
    ),
    (['--mlmd-address', 'evil;id:8080'], "--mlmd-address 'evil;id:8080': expected HOST:PORT"),
    (['--mlmd-address', '$(id).svc:8080'], 'expected HOST:PORT'),
    # --beam-args: parse errors name the flag, the size is bounded, secrets are refused.
    (
      ['--beam-args', "--runner=DataflowRunner --labels='team=a"],
      '--beam-args: cannot split into options: no closing quotation',
    ),
    (
      ['--beam-args', '--direct_num_workers=2 ' + 'x' * 100_000],
      '--beam-args: 100023 characters, more than 4096',
    ),
    (
      ['--beam-args', '--runner=X --s3_secret_access_key=abc123'],
      '--beam-args: option --s3_secret_access_key looks like a secret',
    ),
    (['--beam-args', '--password hunter2'], 'put it in a Kubernetes secret'),
    (
      ['--beam-args', '--environment_config=\'{"env": {"AWS_SECRET_ACCESS_KEY": "k3y"}}\''],
      'the value of option --environment_config holds AWS_SECRET_ACCESS_KEY',
    ),
    (
      ['--beam-args', '--environment_config={"env": {"MLMD_MYSQL_PASSWORD": "pw9Zq"}}'],
      'an option holds MLMD_MYSQL_PASSWORD',
    ),
    # Vertex writes only to Cloud Storage; credentials never go into a URI.
    (
      ['--target', 'vertex', '--pipeline-root', 's3://bucket/root'],
      '--pipeline-root s3://bucket/root: Vertex AI Pipelines writes only to Cloud Storage',
    ),
    (
      ['--pipeline-root', 's3://AKIAKEY:s3cr3tvalue@bucket/x'],
      '--pipeline-root s3://bucket/x: credentials in the URI',
    ),
    # --resources: unknown components and malformed specs (tests/kubeflow/test_resources.py).
    (['--resources', 'Trainr=cpu:4'], "--resources 'Trainr=cpu:4': no component 'Trainr'"),
    (['--resources', 'Trainer=cpu:4,memory:lots'], "memory 'lots': a Kubernetes quantity"),
    (['--beam-args', '--temp_location=s3://user:pw9Zq@host/tmp'], 'looks like a secret'),
    # --kfp-version: the release's object-store rules (kubeflow/releases.py).
    (
      [
        '--kfp-version',
        '2.15',
        '--multi-user',
        'team-a',
        '--pipeline-root',
        's3://mlpipeline/mnist-root',
      ],
      '--pipeline-root s3://mlpipeline/mnist-root: on Kubeflow Pipelines 2.15 multi-user, '
      'profile team-a may only use s3://mlpipeline/private-artifacts/team-a/',
    ),
    (
      [
        '--kfp-version',
        '2.17.0',
        '--multi-user',
        'team-a',
        '--pipeline-root',
        's3://mlpipeline/private-artifacts/team-a/r',
        '--serving-dir',
        's3://mlpipeline/models/mnist',
      ],
      '--serving-dir s3://mlpipeline/models/mnist: on Kubeflow Pipelines 2.17',
    ),
    (
      [
        '--kfp-version',
        '2.16',
        '--multi-user',
        'team-a',
        '--pipeline-root',
        's3://mlpipeline/private-artifacts/team-b/r',
      ],
      'may only use s3://mlpipeline/private-artifacts/team-a/',
    ),
    (
      [
        '--kfp-version',
        '2.16.1',
        '--multi-user',
        'team-a',
        '--pipeline-root',
        's3://mlpipeline/private-artifacts/team-a/r',
      ],
      "SeaweedFS 4.00 refuses profile team-a the batch deletes that Beam's file renames need",
    ),
    (['--multi-user', 'team-a'], '--multi-user needs --kfp-version'),
    (
      ['--target', 'vertex', '--kfp-version', '2.15'],
      '--kfp-version and --multi-user apply to --target kfp',
    ),
    (['--kfp-version', '3.0'], "--kfp-version '3.0': expected a Kubeflow Pipelines 2.x release"),
    (
      ['--kfp-version', '2.15', '--multi-user', 'Team_A'],
      "--multi-user 'Team_A': not a Kubernetes namespace",
    ),
  ],
)
def test_bad_values_are_refused_before_anything_is_written(tmp_path, flags, message):
  output = tmp_path / 'p.yaml'
  args = {'--image': IMAGE, '--pipeline-root': 'gs://bucket/root'}
  extra = []
  for flag, value in zip(flags[::2], flags[1::2], strict=True):
    if flag in args:
      args[flag] = value
    else:
      extra += [flag, value]
  proc = run_cli(
    'compile', '--output', str(output), *[x for kv in args.items() for x in kv], *extra
  )
  assert proc.returncode == 2, proc.stdout + proc.stderr
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith('error: ') and message in line, line
  assert not output.exists()
  for secret in ('s3cr3tvalue', 'k3y', 'hunter2', 'pw9Zq', 'abc123'):  # never echoed
    assert secret not in proc.stdout + proc.stderr


def test_release_checks_accept_what_the_release_allows(tmp_path):
  """2.17 multi-user: the profile's own prefix compiles; 2.15 and 2.16: a root in a bucket of its
  own, data and serving dir in the prefix; before 2.15 any path of the bucket."""
  root = 's3://mlpipeline/private-artifacts/team-a/mnist'
  _, spec = compile_to(
    str(tmp_path),
    '--pipeline-root',
    root,
    '--kfp-version',
    '2.17',
    '--multi-user',
    'team-a',
    '--beam-args',
    '--dataflow_kms_key=projects/p/k',
  )
  assert spec['defaultPipelineRoot'] == root
  from kubeflow import arguments

  arguments.check_release_locations(
    '2.14', 'team-a', {'--pipeline-root': 's3://mlpipeline/mnist-root'}
  )
  arguments.check_release_locations(
    '2.16',
    'team-a',
    {
      '--pipeline-root': 's3://mnist-team-a/mnist',
      '--data-dir': f'{root}/data/mnist',
      '--serving-dir': f'{root}/serving',
    },
  )


def test_pipeline_name_names_the_pipeline_and_its_baseline_scope(tmp_path):
  _, spec = compile_to(
    str(tmp_path), '--pipeline-root', 's3://bucket/root', '--pipeline-name', 'team-b'
  )
  assert spec['pipelineInfo']['name'] == 'team-b'
  params = spec['root']['dag']['tasks']['LatestBlessedModel']['inputs']['parameters']
  assert params['pipeline_name'] == {'runtimeValue': {'constant': 'team-b'}}
  assert (
    spec['root']['inputDefinitions']['parameters']['data_dir']['defaultValue']
    == 's3://bucket/root/data/mnist'
  )


@pytest.mark.slow  # a cold `import tfx` in a new process: ~9 s
def test_the_cli_writes_the_very_files_the_other_tests_inspect(compiled, tmp_path):
  """The other tests compile in this process (conftest.compile_to); the real command, in a
  process of its own, writes the same two files byte for byte."""
  path, _ = compiled
  output = str(tmp_path / 'build' / 'pipeline.yaml')
  proc = run_cli(
    'compile', '--output', output, '--image', IMAGE, '--pipeline-root', 'gs://bucket/root'
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.startswith(f'Wrote {output} (PipelineSpec)'), proc.stdout
  for suffix in ('.yaml', '.json'):
    with open(output.replace('.yaml', suffix)) as cli, open(path.replace('.yaml', suffix)) as ours:
      assert cli.read() == ours.read(), (
        f"the CLI's pipeline{suffix} differs from the in-process one"
      )


@pytest.mark.slow  # a cold `import tfx` in a new process: ~9 s
def test_compiles_with_no_network_at_all(tmp_path):
  """The acceptance command inside a fresh network namespace (no interfaces but a down lo)."""
  probe = subprocess.run(['unshare', '-n', 'true'], capture_output=True)
  if probe.returncode != 0:
    pytest.skip('needs unshare -n (root): cannot take the network away here')
  output = str(tmp_path / 'build' / 'pipeline.yaml')
  proc = subprocess.run(
    [
      'unshare',
      '-n',
      sys.executable,
      '-m',
      'kubeflow',
      'compile',
      '--output',
      output,
      '--image',
      IMAGE,
      '--pipeline-root',
      'gs://bucket/root',
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert os.path.exists(output) and os.path.exists(output.replace('.yaml', '.json'))
  assert kfp.components.load_component_from_file(output).name == 'mnist-tfx'


def test_run_results_gets_the_settings_from_the_sources_the_tasks_use(compiled):
  """The KFP report says how the model was made: RunResults takes each setting's exec property
  from the same place as the task that ran with it (a runtime parameter stays one)."""
  _, spec = compiled
  tasks = spec['root']['dag']['tasks']
  given = tasks['RunResults']['inputs']['parameters']
  assert given['setting__Trainer__epochs'] == tasks['Trainer']['inputs']['parameters']['epochs']
  assert given['setting__Trainer__epochs'] == {'componentInputParameter': 'epochs'}
  assert given['setting__Evaluator__accuracy_threshold'] == {
    'componentInputParameter': 'accuracy_threshold'
  }
  assert (
    given['setting__MnistExampleGen__custom_config']
    == tasks['MnistExampleGen']['inputs']['parameters']['custom_config']
  )
  definitions = spec['components']['RunResults']['inputDefinitions']['parameters']
  assert set(definitions) == set(given)
  trainer = spec['components'][tasks['Trainer']['componentRef']['name']]['inputDefinitions'][
    'parameters'
  ]
  assert definitions['setting__Trainer__epochs'] == trainer['epochs']


def test_infer_dir_puts_the_bulk_inferrer_in_the_compiled_pipeline(tmp_path):
  """--infer-dir (new pictures to label): its ExampleGen, TFX's BulkInferrer on the candidate
  and the Evaluator's blessing, and the PredictionsWriter, in both targets' specs."""
  for target in ('kfp', 'vertex'):
    _, spec = compile_to(
      str(tmp_path / target),
      '--pipeline-root',
      'gs://bucket/root',
      '--target',
      target,
      '--dataset',
      'images',
      '--data-dir',
      'gs://bucket/pictures',
      '--infer-dir',
      'gs://bucket/new-pictures',
    )
    tasks, edges = _deps(spec)
    assert {'InferExampleGen', 'BulkInferrer', 'PredictionsWriter'} <= set(tasks), target
    assert {
      ('InferExampleGen', 'BulkInferrer'),
      ('Trainer', 'BulkInferrer'),
      ('Evaluator', 'BulkInferrer'),
      ('BulkInferrer', 'PredictionsWriter'),
      ('Evaluator', 'PredictionsWriter'),
      ('MnistExampleGen', 'PredictionsWriter'),
      ('MnistExampleGen', 'ImportSchemaGen'),  # the label domain is the data's classes
    } <= edges, target
    executors = spec['deploymentSpec']['executors']
    args = executors['BulkInferrer_executor']['container']['args']
    path = args[args.index('--executor_class_path') + 1]
    assert path == 'tfx.components.bulk_inferrer.executor.Executor'
    import_utils.import_class_by_path(path)
    infer = tasks['InferExampleGen']['inputs']['parameters']['input_base']
    assert infer == {'runtimeValue': {'constant': 'gs://bucket/new-pictures'}}
  _, plain = compile_to(str(tmp_path / 'plain'), '--pipeline-root', 'gs://bucket/root')
  assert 'BulkInferrer' not in plain['root']['dag']['tasks']
