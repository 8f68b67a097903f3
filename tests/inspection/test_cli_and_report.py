"""`python -m inspection` and the HTML run report, on a real run's SQLite store."""

import glob
import json
import os
import re
import subprocess

import numpy as np
import pytest

from components.lib.artifact_files import read_answers
from components.lib.idx import FILES
from inspection import model_quality, runs
from tests.conftest import run_py
from tests.inspection.test_collect import walk

pytestmark = pytest.mark.slow
TRAIN_IMAGES_SHA = FILES['train'][0].sha256


def metadata(output_dir, *args):
  return run_py('-m', 'inspection', '--output-dir', output_dir, *args)


def test_lineage_from_pushed_version_down_to_the_data(two_runs):
  output_dir, version, *_ = two_runs
  proc = metadata(output_dir, 'lineage', version)
  assert proc.returncode == 0, proc.stderr
  text = proc.stdout
  for step in (
    'PushedModel #',
    '← Pusher',
    'Model #',
    '← Trainer',
    'Examples #',
    '← MnistExampleGen',
    'ModelBlessing #',
    '(blessed)',
    '← Evaluator',
  ):
    assert step in text, f'{step!r} missing from:\n{text}'
  assert f'train-images sha256 {TRAIN_IMAGES_SHA}' in text
  summary = runs.summarize_run(*_first_run(output_dir))
  assert f'accuracy {summary.accuracy:.4f}' in text
  assert 'threshold: accuracy ≥ 0.5' in text

  as_json = metadata(output_dir, '--json', 'lineage', version)
  tree = json.loads(as_json.stdout)
  assert tree['type'] == 'PushedModel' and tree['properties']['pushed_version'] == version
  nodes = list(walk(tree))
  examples = [n for n in nodes if n['type'] == 'Examples']
  assert examples[0]['properties']['sha256_train_images'] == TRAIN_IMAGES_SHA
  evaluations = [
    n['produced_by']['evaluation']
    for n in nodes
    if n['type'] == 'ModelBlessing' and 'produced_by' in n
  ]
  assert evaluations[0]['accuracy'] == pytest.approx(summary.accuracy)
  assert evaluations[0]['accuracy_threshold'] == 0.5


def _first_run(output_dir):
  from pipeline import store as store_lib

  store = store_lib.open_store(
    store_lib.sqlite_config(os.path.join(output_dir, 'metadata.sqlite'), True)
  )
  return store, runs.runs(store)[-1]


def test_runs_newest_first(two_runs):
  output_dir, version, *_ = two_runs
  proc = metadata(output_dir, '--json', 'runs')
  assert proc.returncode == 0, proc.stderr
  newest, oldest = json.loads(proc.stdout)
  assert newest['started'] >= oldest['started']
  assert oldest['blessed'] is True and oldest['pushed_version'] == version
  assert newest['blessed'] is False and newest['pushed_version'] is None
  assert newest['component_states']['Trainer'] == 'CACHED'
  assert set(oldest['component_seconds']) >= {'MnistExampleGen', 'Trainer', 'Evaluator', 'Pusher'}
  table = metadata(output_dir, 'runs').stdout.splitlines()
  assert table[0].split()[:7] == [
    'RUN',
    'STARTED',
    'STATE',
    'ACCURACY',
    'BLESSED',
    'SERVABLE',
    'PUSHED',
  ]
  assert newest['run_id'] in table[1] and ' no ' in table[1]
  assert oldest['run_id'] in table[2] and version in table[2]


def test_artifacts_by_type_and_run(two_runs):
  output_dir, version, *_ = two_runs
  pushed = json.loads(metadata(output_dir, '--json', 'artifacts', '--type', 'PushedModel').stdout)
  assert [
    p['properties'].get('pushed_version') for p in pushed if p['properties'].get('pushed')
  ] == [version]
  examples = json.loads(metadata(output_dir, '--json', 'artifacts', '--type', 'Examples').stdout)
  assert examples[0]['properties']['train_examples'] == 3000
  listed = json.loads(metadata(output_dir, '--json', 'runs').stdout)
  in_newest = json.loads(
    metadata(output_dir, '--json', 'artifacts', '--run', listed[0]['run_id']).stdout
  )
  types = {a['type'] for a in in_newest}
  assert {'Examples', 'Model', 'ModelEvaluation', 'ModelBlessing'} <= types
  evaluation = [a for a in in_newest if a['type'] == 'ModelEvaluation'][0]
  assert evaluation['properties']['accuracy'] == pytest.approx(listed[0]['accuracy'])
  table = metadata(output_dir, 'artifacts', '--type', 'Examples').stdout
  assert 'sha256_train_images=ba891046' in table


def test_errors_are_one_line(two_runs, tmp_path):
  output_dir, *_ = two_runs
  for args, message in (
    ((output_dir, 'lineage', '99999999'), 'no pushed version and no artifact'),
    ((str(tmp_path), 'runs'), 'no ML Metadata store there'),
    ((output_dir, 'artifacts', '--run', 'nope'), 'no run with that id'),
  ):
    proc = metadata(*args)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith('error: ') and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _report_data(path):
  with open(path) as f:
    text = f.read()
  match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
  return text, json.loads(match.group(1))  # raw JSON: a <script> holds no entities


def test_every_run_has_a_report_whose_numbers_match_mlmd_and_tfma(two_runs):
  output_dir, version, first_stdout, second_stdout = two_runs
  paths = sorted(glob.glob(os.path.join(output_dir, 'reports', '*', 'report.html')))
  assert len(paths) == 2
  for stdout in (first_stdout, second_stdout):
    printed = re.search(r'^Report:\s+(\S+)$', stdout, re.M).group(1)
    assert printed in paths
  store, first = _first_run(output_dir)
  summary = runs.summarize_run(store, first)
  [path] = [
    p
    for p in paths
    if os.path.basename(os.path.dirname(p)) == re.sub(r'[^0-9A-Za-z._-]', '-', first.name)
  ]
  text, data = _report_data(path)
  # Confusion matrix from the pushed model on the eval split agrees with TFMA's accuracy.
  confusion = data['confusion_matrix']
  assert sum(map(sum, confusion)) == 1000
  assert data['eval_accuracy'] == pytest.approx(summary.accuracy, abs=1e-6)
  assert sum(confusion[i][i] for i in range(10)) / 1000 == pytest.approx(summary.accuracy, abs=1e-6)
  assert all(m['label'] != m['predicted'] for m in data['mistakes'])
  probabilities = [m['probability'] for m in data['mistakes']]
  assert probabilities == sorted(probabilities, reverse=True)
  assert [sum(data['label_histograms'][s]) for s in ('train', 'eval')] == [3000, 1000]
  # The report reuses the ServingCheck's answers instead of predicting the eval split again.
  labels, kept = read_answers(summary.uris['InfraBlessing'])
  assert kept.shape == (1000, 10) and kept.dtype == np.float32
  np.testing.assert_array_equal(
    labels, model_quality.read_split(summary.uris['Examples'], 'eval')[1]
  )
  assert np.trace(confusion) == np.sum(kept.argmax(axis=1) == labels)
  assert len(data['history']['loss']) == 2
  assert data['gate']['accuracy_threshold'] == 0.5
  assert data['summary']['pushed_version'] == version
  assert data['data']['sha256_train_images'] == FILES['train'][0].sha256
  assert text.count('<svg') >= 5  # 2 curves, confusion matrix, 2 histograms
  # The most confident mistakes, and each split's mean image of each class (data statistics).
  assert len(data['mistakes']) > 0
  assert text.count('data:image/png;base64,') == len(data['mistakes']) + 2 * 10
  assert 'src="http' not in text and 'href="http' not in text  # self-contained


def test_report_subcommand_rebuilds_it(two_runs):
  output_dir, *_ = two_runs
  listed = json.loads(metadata(output_dir, '--json', 'runs').stdout)
  proc = metadata(output_dir, '--json', 'report', listed[1]['run_id'])
  assert proc.returncode == 0, proc.stderr
  path = json.loads(proc.stdout)['report']
  _, data = _report_data(path)
  assert data['run_id'] == listed[1]['run_id'] and data['summary']['blessed'] is True


def test_report_renders_in_headless_chromium(two_runs, tmp_path):
  output_dir, *_ = two_runs
  chromium = next(
    (c for c in ('/usr/bin/chromium', '/usr/bin/chromium-browser') if os.path.exists(c)), None
  )
  if chromium is None:
    if os.environ.get('CI'):
      pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
    pytest.skip("needs Debian's chromium (apt-get install chromium)")
  path = sorted(glob.glob(os.path.join(output_dir, 'reports', '*', 'report.html')))[0]
  shot = tmp_path / 'report.png'
  subprocess.run(
    [
      chromium,
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      f'--user-data-dir={tmp_path / "profile"}',
      '--window-size=1200,2400',
      f'--screenshot={shot}',
      f'file://{path}',
    ],
    capture_output=True,
    timeout=120,
  )
  from PIL import Image

  image = Image.open(shot).convert('RGB')
  assert image.size == (1200, 2400)
  colors = image.getcolors(maxcolors=1 << 20)
  assert len(colors) > 100, 'the screenshot is (nearly) blank'
  white = sum(count for count, rgb in colors if rgb == (255, 255, 255))
  assert white < 0.95 * image.size[0] * image.size[1]
