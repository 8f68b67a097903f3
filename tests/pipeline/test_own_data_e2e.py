"""Your own data, end to end: the commands of docs/how-to/own-data.md that use the page's example
folders run as written, with bash, from another directory, on real data that is not MNIST's IDX
files, made where the page expects it (HOME is a scratch folder; tests/own_data.py). The page's
Fashion-MNIST run is tests/pipeline/test_datasets_e2e.py's; its `--dataset idx` line names a
folder of the reader's own.

- scikit-learn's 8×8 digits as gray PNG class folders (train/ and test/): trains, blesses,
  pushes, and `predict` answers with the folder names;
- three classes of Fashion-MNIST as colour JPEGs larger than 28×28 in a flat <class>/ layout,
  with --infer-dir: a 3-class `classify`, one prediction row per new picture with the class
  names, and the CSV's lineage leads to the model;
- MNIST's test set as Kaggle-layout CSVs: above 0.95 after three epochs, pushed;
- a truncated picture among 1,797: the run stops before the Trainer with one line naming it.
"""

import csv
import os
import re
import shlex
import subprocess
import sys

import pytest
import tensorflow as tf

from tests import own_data
from tests.conftest import REPO
from tests.test_docs import _without_comment, expected_exit, walkthrough_lines

pytestmark = pytest.mark.slow

GUIDE = os.path.join(REPO, 'docs', 'how-to', 'own-data.md')
EXAMPLES = ('~/digits', '~/clothes', '~/new-clothes', '~/mnist-csv', '~/broken-digits')


@pytest.fixture(scope='module')
def guide(tmp_path_factory, mnist_dir):
  """Every command of the guide on its example folders, in order: {command: (code, out, err)}."""
  home = tmp_path_factory.mktemp('home')
  own_data.sklearn_digits(str(home / 'digits'))
  own_data.fashion_jpegs(str(home / 'clothes'), per_class=300)
  truth = own_data.new_fashion_jpegs(str(home / 'new-clothes'), per_class=5)
  own_data.mnist_csv(str(home / 'mnist-csv'), mnist_dir, train=8000)
  own_data.sklearn_digits(str(home / 'broken-digits'))
  broken = own_data.truncate_one(str(home / 'broken-digits'))
  bin_dir, elsewhere = home / '.bin', home / 'elsewhere'
  for folder in (bin_dir, elsewhere):
    folder.mkdir()
  wrapper = bin_dir / 'mnist-tfx'  # this checkout's code, whichever the venv's script runs
  wrapper.write_text(
    f'#!/bin/sh\nexec {shlex.quote(sys.executable)} '
    f'{shlex.quote(os.path.join(REPO, "mnist_tfx.py"))} "$@"\n'
  )
  wrapper.chmod(0o755)
  env = dict(os.environ, HOME=str(home), PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
  ran = {}
  for where, line in walkthrough_lines(GUIDE):
    if not any(folder in line for folder in EXAMPLES):
      continue
    command = _without_comment(line)
    proc = subprocess.run(
      ['bash', '-c', command],
      cwd=elsewhere,
      env=env,
      capture_output=True,
      text=True,
      timeout=1800,
      check=False,
    )
    assert proc.returncode == expected_exit(line), (
      f'{where}: exit {proc.returncode}\n  {command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    )
    ran[command] = (proc.returncode, proc.stdout, proc.stderr)
  return home, truth, broken, ran


def _one(ran, *words):
  """The output of the one command holding all `words`."""
  [found] = [out for command, out in ran.items() if all(w in command for w in words)]
  return found


def _line(stdout: str, label: str) -> str:
  found = re.search(rf'^{label}:\s+(.+)$', stdout, re.M)
  assert found, f'no {label}: line in\n{stdout[-2000:]}'
  return found.group(1)


def test_the_guide_runs_a_run_on_each_kind_of_data(guide):
  _, _, _, ran = guide
  runs = [c for c in ran if c.startswith('mnist-tfx run')]
  assert {c.split('--data-dir ')[1].split()[0] for c in runs} == {
    '~/digits',
    '~/clothes',
    '~/mnist-csv',
    '~/broken-digits',
  }


def test_png_class_folders_train_bless_push_and_predict_answers_with_folder_names(guide):
  _, _, _, ran = guide
  _, stdout, _ = _one(ran, 'run', '~/digits ')
  assert _line(stdout, 'Blessed') == 'yes' and 'version' in _line(stdout, 'Pushed')
  assert re.search(r'^MnistExampleGen\s+[\d.]+ s \(train 1437, eval 360\)$', stdout, re.M)
  _, answer, _ = _one(ran, 'mnist-tfx predict', '~/digits-run')
  assert re.fullmatch(r'\S+/digits/test/seven/0240\.png: \d seven \(p=[\d.]+\)\n', answer), answer


def test_colour_jpegs_in_class_folders_give_a_three_class_classify(guide):
  home, _, _, ran = guide
  _, stdout, _ = _one(ran, 'run', '~/clothes ')
  assert _line(stdout, 'Blessed') == 'yes', stdout[-2000:]
  with open(_line(stdout, 'Report')) as f:  # the report's confusion matrix: 3x3, named
    report = f.read()
  assert 'true 1 sneaker, predicted 1 sneaker' in report and 'true 3 ' not in report
  version_dir = _line(stdout, 'Pushed').split(' (version')[0]
  classify = tf.saved_model.load(version_dir).signatures['classify']
  answer = classify(image=tf.zeros([2, 28, 28]))
  assert answer['probabilities'].shape == (2, 3)
  assert {n.decode() for n in answer['class_names'].numpy()} <= {'bag', 'sneaker', 'trouser'}
  _, predicted, _ = _one(ran, 'mnist-tfx predict', '~/clothes-run')
  assert re.fullmatch(r'\S+/new-7000\.jpg: 1 sneaker \(p=[\d.]+\)\n', predicted), predicted


def test_infer_dir_writes_one_prediction_row_per_picture_with_the_class_names(guide):
  home, truth, _, ran = guide
  _, stdout, _ = _one(ran, 'run', '~/clothes ')
  path = _line(stdout, 'Predictions')
  assert path.startswith(str(home / 'clothes-run')) and path.endswith('/predictions.csv')
  with open(path) as f:
    rows = list(csv.DictReader(f))
  assert sorted(r['file'] for r in rows) == sorted(truth)  # one row per picture
  assert {r['class'] for r in rows} <= set(own_data.CLOTHES.values())
  right = sum(r['class'] == truth[r['file']] for r in rows)
  assert right >= len(rows) - 2, rows
  assert all(0 < float(r['probability']) <= 1 for r in rows)
  _, shown, _ = _one(ran, 'cat ')
  assert shown.startswith('file,class,probability\n') and len(shown.splitlines()) == 16
  _, lineage, _ = _one(ran, 'lineage')
  for link in ('InferenceResult #', '(15 predictions)', '← BulkInferrer', 'model: Model #'):
    assert link in lineage, lineage
  assert '← Trainer' in lineage and 'manifest_sha256: ' in lineage and '(blessed)' in lineage


def test_mnist_as_kaggle_csvs_passes_0_95_after_three_epochs_and_is_pushed(guide):
  _, _, _, ran = guide
  _, stdout, _ = _one(ran, 'run', '~/mnist-csv')
  assert float(_line(stdout, 'Test accuracy').split()[0]) > 0.95
  assert _line(stdout, 'Blessed') == 'yes' and 'version' in _line(stdout, 'Pushed')
  assert re.search(r'^Trainer: \d+ examples .*, 3 epochs,', stdout, re.M)


def test_a_truncated_picture_among_a_thousand_stops_the_run_before_the_trainer(guide):
  home, _, broken, ran = guide
  code, stdout, stderr = _one(ran, 'run', '~/broken-digits')
  assert code == 1
  assert stderr.splitlines() == [
    f'error: {broken}: cannot read the image (OSError: image file is truncated)'
  ]
  assert 'Traceback' not in stdout + stderr and not re.search(r'^Trainer', stdout, re.M)
  assert not os.path.exists(home / 'broken-run' / 'serving')
  assert len(list((home / 'broken-digits').rglob('*.png'))) == 1797
