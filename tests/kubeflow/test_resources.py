"""`kubeflow compile --resources`: parsed with one line for every bad spec, written only on the
named tasks, read by every KFP release's driver as the pod's requests and limits
(kfp_pod_spec.py) and by Vertex as limits and an accelerator type."""

import contextlib
import io
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeflow import cli, resources
from tests.kubeflow.conftest import _parse_compile, compile_to
from tests.kubeflow.kfp_pod_spec import pod_resources


def _containers(spec):
  """{task: its container} for every task that runs one."""
  executors = spec['deploymentSpec']['executors']
  found = {}
  for name, task in spec['root']['dag']['tasks'].items():
    label = spec['components'][task['componentRef']['name']]['executorLabel']
    if 'container' in executors[label]:
      found[name] = executors[label]['container']
  return found


def test_the_issue_example_sets_the_trainer_only(tmp_path):
  output, spec = compile_to(
    str(tmp_path),
    '--pipeline-root',
    'gs://bucket/root',
    '--resources',
    'Trainer=cpu:4,memory:16G,gpu:1',
  )
  containers = _containers(spec)
  assert containers['Trainer']['resources'] == {
    'cpuLimit': 4.0,
    'cpuRequest': 4.0,
    'memoryLimit': 16.0,
    'memoryRequest': 16.0,
    'accelerator': {'type': 'nvidia.com/gpu', 'count': 1},
  }
  assert [name for name, c in containers.items() if 'resources' in c] == ['Trainer']
  with open(os.path.splitext(output)[0] + '.json') as f:
    job = json.load(f)
  assert _containers(job['pipelineSpec'])['Trainer']['resources']['accelerator']['count'] == 1
  for tag in ('2.0.5', '2.3.0', '2.4.0', '2.17.0'):  # the pod every release's driver makes
    assert pod_resources(containers['Trainer']['resources'], tag) == {
      'limits': {'cpu': '4', 'memory': '16G', 'nvidia.com/gpu': '1'},
      'requests': {'cpu': '4', 'memory': '16G'},
    }, tag


def test_binary_units_millicores_and_several_tasks(tmp_path):
  _, spec = compile_to(
    str(tmp_path),
    '--pipeline-root',
    'gs://bucket/root',
    '--resources',
    'Trainer=cpu:8,memory:30Gi,gpu:2,gpu-type:amd.com/gpu',
    '--resources',
    'MnistExampleGen=cpu:500m,memory:2Gi',
  )
  containers = _containers(spec)
  assert pod_resources(containers['Trainer']['resources'], '2.17.0')['limits'] == {
    'cpu': '8',
    'memory': '32.21225472G',  # 30 * 2**30 bytes
    'amd.com/gpu': '2',
  }
  assert pod_resources(containers['MnistExampleGen']['resources'], '2.0.5')['requests'] == {
    'cpu': '0.5',
    'memory': '2.147483648G',
  }
  assert sorted(name for name, c in containers.items() if 'resources' in c) == [
    'MnistExampleGen',
    'Trainer',
  ]


def test_vertex_gets_limits_and_an_accelerator_type(tmp_path):
  _, spec = compile_to(
    str(tmp_path),
    '--target',
    'vertex',
    '--pipeline-root',
    'gs://bucket/root',
    '--resources',
    'Trainer=cpu:8,memory:32G,gpu:1,gpu-type:NVIDIA_TESLA_T4',
  )
  assert _containers(spec)['Trainer']['resources'] == {
    'cpuLimit': 8.0,
    'memoryLimit': 32.0,
    'accelerator': {'type': 'NVIDIA_TESLA_T4', 'count': 1},
  }


def test_the_components_are_the_tasks_that_run_a_container(compiled, tmp_path):
  _, spec = compiled
  assert set(_containers(spec)) == set(resources.COMPONENTS['kfp'])
  _, vertex = compile_to(str(tmp_path), '--target', 'vertex', '--pipeline-root', 'gs://b/r')
  assert set(_containers(vertex)) == set(resources.COMPONENTS['vertex'])


def _compile_lines(tmp_path, *extra):
  args = _parse_compile(str(tmp_path / 'p.yaml'), '--pipeline-root', 'gs://b/r', *extra)
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = cli._compile(args)
  return status, out.getvalue().splitlines(), err.getvalue()


def test_gpus_without_mirrored_get_a_note_and_mirrored_uses_them(tmp_path):
  """MirroredStrategy() with no devices takes every GPU the container sees (trainer_module/
  strategy.py build_strategy): the pod sees exactly its limit of nvidia.com/gpu."""
  status, lines, _ = _compile_lines(tmp_path, '--resources', 'Trainer=cpu:8,memory:32G,gpu:2')
  assert status == 0
  assert 'Resources of Trainer: cpu 8 (request and limit), memory 32G (request and limit), ' in (
    '\n'.join(lines) + ' '
  )
  assert lines[-1].startswith('Note: the Trainer gets 2 GPUs; compile with --strategy mirrored')
  status, lines, _ = _compile_lines(
    tmp_path, '--resources', 'Trainer=gpu:2', '--strategy', 'mirrored'
  )
  assert status == 0 and not [line for line in lines if line.startswith('Note:')]
  with open(tmp_path / 'p.yaml') as f:
    text = f.read()
  assert '"strategy": "mirrored"' in text or 'strategy\\": \\"mirrored' in text


@pytest.mark.parametrize(
  'spec, target, message',
  [
    ('Trainer', 'kfp', 'expected COMPONENT=cpu:N,memory:SIZE'),
    ('=cpu:1', 'kfp', 'expected COMPONENT='),
    ('Trainer=', 'kfp', 'expected COMPONENT='),
    ('Trainr=cpu:1', 'kfp', "no component 'Trainr' on --target kfp (it has: BaselineModel"),
    ('LatestBlessedModel=cpu:1', 'vertex', "no component 'LatestBlessedModel' on --target vertex"),
    ('Trainer=cpu', 'kfp', "'cpu' is not KEY:VALUE"),
    ('Trainer=cpu:4,cpu:2', 'kfp', 'cpu is given twice'),
    ('Trainer=disk:10G', 'kfp', "unknown key 'disk'"),
    ('Trainer=cpu:0', 'kfp', 'between 1m and 512 cores'),
    ('Trainer=cpu:four', 'kfp', 'a number of cores'),
    ('Trainer=cpu:1e3', 'kfp', 'a number of cores'),
    ('Trainer=memory:16GB', 'kfp', 'a Kubernetes quantity'),
    ('Trainer=memory:12', 'kfp', 'between 1Mi and 64Ti'),
    ('Trainer=memory:100Ti', 'kfp', 'between 1Mi and 64Ti'),
    ('Trainer=gpu:0', 'kfp', 'a whole number from 1 to 16'),
    ('Trainer=gpu:1.5', 'kfp', 'a whole number'),
    ('Trainer=gpu-type:nvidia.com/gpu', 'kfp', 'gpu-type needs gpu:N'),
    ('Trainer=gpu:1,gpu-type:NVIDIA_TESLA_T4', 'kfp', 'the Kubernetes resource name'),
    ('Trainer=gpu:1', 'vertex', 'gpu:N needs gpu-type:T'),
    ('Trainer=gpu:1,gpu-type:nvidia.com/gpu', 'vertex', 'a Vertex AI accelerator type'),
  ],
)
def test_bad_specs_are_one_line(spec, target, message):
  with pytest.raises(ValueError) as e:
    resources.parse([spec], target)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_a_component_named_twice_is_refused():
  with pytest.raises(ValueError, match='--resources Trainer: given twice'):
    resources.parse(['Trainer=cpu:1', 'Trainer=memory:1Gi'], 'kfp')


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(['kfp', 'vertex']))
def test_any_text_is_a_spec_or_one_line(text, target):
  try:
    found = resources.parse([text], target)
  except ValueError as e:
    assert str(e).startswith('--resources ') and '\n' not in str(e)
    return
  [(component, given_resources)] = found.items()
  assert component in resources.COMPONENTS[target]
  spec = resources.resource_spec(given_resources, target)
  assert set(spec) <= {'cpuLimit', 'cpuRequest', 'memoryLimit', 'memoryRequest', 'accelerator'}


@settings(max_examples=200, deadline=None)
@given(
  st.sampled_from(sorted(resources.COMPONENTS['kfp'])),
  st.integers(1, 512_000),
  st.integers(1, 64 * 1024),
  st.sampled_from(['Mi', 'Gi']),
  st.integers(1, 16),
)
def test_valid_specs_reach_the_pod_as_given(component, millicores, amount, unit, gpus):
  text = f'{component}=cpu:{millicores}m,memory:{amount}{unit},gpu:{gpus}'
  try:
    [(_, given_resources)] = resources.parse([text], 'kfp').items()
  except ValueError as e:
    assert 'between' in str(e)  # above 512 cores or 64Ti
    return
  pod = pod_resources(resources.resource_spec(given_resources, 'kfp'), '2.17.0')
  assert float(pod['limits']['cpu']) == pytest.approx(millicores / 1000)
  size = amount * (1 << (20 if unit == 'Mi' else 30))
  assert float(pod['limits']['memory'][:-1]) * 1e9 == pytest.approx(size, abs=1)
  assert (
    pod['limits']['nvidia.com/gpu'] == str(gpus) and pod['requests']['cpu'] == pod['limits']['cpu']
  )
