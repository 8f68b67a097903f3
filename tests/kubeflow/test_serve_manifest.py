"""`mnist-tfx kubeflow serve-manifest` writes an InferenceService that KServe's CRD accepts
(kserve_crd.py, written from the CRD at v0.20.0), serving the serving dir of numbered versions
with KServe's TensorFlow runtime; every bad value is one line and exit code 2."""

import importlib.metadata

import pytest
import yaml

from kubeflow import serve_manifest
from kubeflow.upload import UsageError
from tests.kubeflow import kserve_crd
from tests.kubeflow.conftest import run_cli


def test_the_manifest_validates_against_kserves_crd():
  manifest = serve_manifest.manifest(
    's3://mlpipeline/private-artifacts/team-a/mnist/serving',
    name='mnist',
    namespace='team-a',
    service_account='kserve-s3',
  )
  assert kserve_crd.errors(manifest) == []
  model = manifest['spec']['predictor']['model']
  assert model['modelFormat'] == {'name': 'tensorflow', 'version': '2'}
  # The initializer lists the prefix as given: the trailing "/" keeps serving-b/ out.
  assert model['storageUri'] == 's3://mlpipeline/private-artifacts/team-a/mnist/serving/'
  assert model['runtimeVersion'] == importlib.metadata.version('tensorflow-serving-api')
  assert manifest['spec']['predictor']['serviceAccountName'] == 'kserve-s3'
  assert set(model) <= set(kserve_crd.MODEL_FIELDS)
  assert set(manifest['spec']['predictor']) <= set(kserve_crd.PREDICTOR_FIELDS)


@pytest.mark.parametrize(
  'uri, storage',
  [
    ('gs://bucket/mnist/serving/', 'gs://bucket/mnist/serving'),
    ('pvc://models-claim/mnist/serving', 'pvc://models-claim/mnist/serving'),
  ],
)
def test_other_stores_and_the_minimal_manifest(uri, storage):
  manifest = serve_manifest.manifest(uri)
  assert kserve_crd.errors(manifest) == []
  assert manifest['metadata'] == {'name': 'mnist'}
  assert 'serviceAccountName' not in manifest['spec']['predictor']
  assert manifest['spec']['predictor']['model']['storageUri'] == storage


@pytest.mark.parametrize(
  'broken',
  [
    lambda m: m['spec']['predictor']['model']['modelFormat'].pop('name'),
    lambda m: m['spec']['predictor']['model']['modelFormat'].update(version=2),
    lambda m: m['spec']['predictor']['model'].update(storageURI='s3://b/x'),
    lambda m: m['spec']['predictor'].update(tensorflow={'storageUri': 's3://b/x'}, model=1),
    lambda m: m['spec'].pop('predictor'),
    lambda m: m.update(apiVersion='serving.kserve.io/v1alpha1'),
  ],
)
def test_the_checker_refuses_what_the_crd_refuses(broken):
  """The checker can fail: each of these breaks a type, a required field or a field name."""
  manifest = serve_manifest.manifest('s3://bucket/serving')
  broken(manifest)
  assert kserve_crd.errors(manifest)


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'serving_dir': '/mnt/serving'}, 'KServe reads s3://BUCKET/PATH'),
    ({'serving_dir': 'http://host/serving'}, 'KServe reads s3://BUCKET/PATH'),
    ({'serving_dir': 's3://bucket'}, 'KServe reads s3://BUCKET/PATH'),
    ({'serving_dir': 's3://KEY:s3cr3t@bucket/serving'}, 'no credentials in the URI'),
    ({'serving_dir': 's3://bucket/a/../b'}, 'no query, fragment or ".."'),
    ({'serving_dir': 's3://b/x', 'name': 'MNIST'}, "--name 'MNIST': KServe takes"),
    ({'serving_dir': 's3://b/x', 'name': '1mnist'}, 'starting with a letter'),
    ({'serving_dir': 's3://b/x', 'namespace': 'Team_A'}, 'not a Kubernetes namespace'),
    ({'serving_dir': 's3://b/x', 'service_account': 'a b'}, 'not a Kubernetes name'),
    ({'serving_dir': 's3://b/x', 'runtime_version': 'latest'}, 'a TF Serving release'),
  ],
)
def test_bad_values_are_one_line(kwargs, message):
  with pytest.raises(UsageError) as e:
    serve_manifest.manifest(**kwargs)
  assert message in str(e.value) and 's3cr3t' not in str(e.value) and '\n' not in str(e.value)


@pytest.mark.slow  # processes that import the CLI: a few seconds each
def test_cli_writes_the_manifest_and_refuses_bad_values(tmp_path):
  output = tmp_path / 'isvc.yaml'
  proc = run_cli(
    'serve-manifest',
    '--serving-dir',
    's3://mlpipeline/private-artifacts/team-a/mnist/serving',
    '--namespace',
    'team-a',
    '--service-account',
    'kserve-s3',
    '--output',
    str(output),
    cwd=str(tmp_path),
  )
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith(f'Wrote {output} (InferenceService mnist)')
  assert kserve_crd.errors(yaml.safe_load(output.read_text())) == []
  proc = run_cli('serve-manifest', '--serving-dir', 'gs://bucket/serving', cwd=str(tmp_path))
  assert proc.returncode == 0 and kserve_crd.errors(yaml.safe_load(proc.stdout)) == []
  proc = run_cli('serve-manifest', '--serving-dir', 'serving', cwd=str(tmp_path))
  assert proc.returncode == 2
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith('error: --serving-dir serving: KServe reads')
