"""ServingCheck: the judgement (pure) and the probe on real SavedModels in a fresh process."""

import os
import shutil

import numpy as np
import pytest

from components import serving_check
from components.lib import idx
from components.lib.artifact_files import read_serving_result
from components.lib.names import ANSWERS_FILE
from components.serving_check import judge

BOUND_MS = 1000.0


def _servable_result(**changes):
  result = {
    'warmup_requests': 4,
    'examples': 500,
    'disagreements': 0,
    'classes_are_argmax': True,
    'max_probability_sum_error': 2e-7,
    'accuracy_classify': 0.706,
    'refused': ['0-255 pixels', 'NaN pixels'],
    'not_refused': [],
    'latency': {'1': {'p50_ms': 0.8, 'p99_ms': 1.1}},
  }
  result.update(changes)
  return result


def test_a_model_that_answers_like_the_evaluator_saw_is_servable():
  # TFMA keeps accuracy as a float32: 0.706 comes back as 0.7059999704360962.
  assert judge(_servable_result(), 0.7059999704360962, 500, BOUND_MS) == []


@pytest.mark.parametrize(
  'changes, evaluator, found',
  [
    ({'disagreements': 3}, (0.706, 500), 'classify and serving_default disagree on 3 of 500'),
    (
      {'accuracy_classify': 0.708},
      (0.706, 500),
      "classify's accuracy 0.708 differs from the Evaluator's 0.706000",
    ),
    ({}, (0.706, 499), 'answered 500 eval examples, the Evaluator 499'),
    ({}, (None, 500), "the Evaluator's accuracy is missing"),
    ({'warmup_requests': 0}, (0.706, 500), 'no TF Serving warmup requests'),
    (
      {'not_refused': ['0-255 pixels']},
      (0.706, 500),
      'classify answers 0-255 pixels instead of refusing',
    ),
    ({'classes_are_argmax': False}, (0.706, 500), 'not the argmax'),
    ({'max_probability_sum_error': 0.5}, (0.706, 500), 'do not sum to 1'),
    (
      {'latency': {'1': {'p50_ms': 900.0, 'p99_ms': 1500.0}}},
      (0.706, 500),
      'single-image p99 latency 1500.0 ms is over the bound 1000 ms',
    ),
    ({'latency': {}}, (0.706, 500), 'single-image latency was not measured'),
    (
      {'error': 'OSError: SavedModel file does not exist'},
      (0.706, 500),
      'did not load and answer in a fresh process: OSError: SavedModel file does not exist',
    ),
  ],
)
def test_every_reason_not_to_push_is_named(changes, evaluator, found):
  reasons = judge(_servable_result(**changes), *evaluator, BOUND_MS)
  assert any(found in reason for reason in reasons), reasons


# ---- The probe, in its own process, on real SavedModels and real MNIST test digits ------------

EVAL_EXAMPLES = 300


@pytest.fixture(scope='module')
def eval_split(tmp_path_factory, mnist_dir):
  """The first 300 MNIST test digits as ExampleGen writes them (GZIP TFRecords of tf.Examples)."""
  import tensorflow as tf

  from trainer_module.features import IMAGE_KEY, LABEL_KEY

  test = idx.load_split(mnist_dir, 't10k', validated=True)
  images, labels = test.images[:EVAL_EXAMPLES], test.labels[:EVAL_EXAMPLES]
  split = tmp_path_factory.mktemp('examples') / 'Split-eval'
  split.mkdir()
  with tf.io.TFRecordWriter(str(split / 'data.gz'), options='GZIP') as writer:
    for image, label in zip(images, labels, strict=True):
      writer.write(
        tf.train.Example(
          features=tf.train.Features(
            feature={
              IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
              LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
          )
        ).SerializeToString()
      )
  return str(split / '*'), images, labels


@pytest.fixture(scope='module')
def trained(tmp_path_factory, mnist_dir):
  """The seed CNN after a few real training steps, and its serving export."""
  import keras

  from trainer_module import export
  from trainer_module.model import build_model

  train = idx.load_split(mnist_dir, 'train', validated=True)
  images, labels = train.images[:2000], train.labels[:2000]
  keras.utils.set_random_seed(1)
  model = build_model()
  model.compile(optimizer='adam', loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  model.fit(
    images.astype('float32') / 255.0, labels.astype('int64'), epochs=1, batch_size=100, verbose=0
  )
  path = str(tmp_path_factory.mktemp('model') / 'Format-Serving')
  export.export_serving_model(model, path)
  return model, path


def _probe(tmp_path, model_dir, eval_glob):
  return serving_check.run_probe(model_dir, eval_glob, str(tmp_path / 'result.json'), timeout=300)


@pytest.mark.slow
def test_probe_answers_every_example_like_the_keras_model(tmp_path, trained, eval_split):
  model, model_dir = trained
  eval_glob, images, labels = eval_split
  result = _probe(tmp_path, model_dir, eval_glob)
  # What the model answers in this process, without the export: the probe must see the same.
  expected = np.argmax(model.predict(images.astype('float32') / 255.0, verbose=0), axis=1)
  assert result['examples'] == EVAL_EXAMPLES
  assert result['accuracy_classify'] == pytest.approx(np.mean(expected == labels), abs=1e-9)
  assert result['accuracy_serving_default'] == result['accuracy_classify']
  assert result['disagreements'] == 0 and result['max_probability_difference'] < 1e-5
  assert result['warmup_requests'] == 4 and result['signatures'] == ['classify', 'serving_default']
  assert result['refused'] == ['0-255 pixels', 'NaN pixels']
  assert set(result['latency']) == {'1', '100', '1000'}
  for numbers in result['latency'].values():
    assert 0 < numbers['p50_ms'] <= numbers['p99_ms']
  assert (
    judge(result, float(np.float32(result['accuracy_classify'])), EVAL_EXAMPLES, BOUND_MS) == []
  )
  # The answers kept for the report: the split's labels in order, and classify's probabilities.
  answers = np.load(tmp_path / ANSWERS_FILE)
  np.testing.assert_array_equal(answers['labels'], labels)
  np.testing.assert_array_equal(answers['probabilities'].argmax(axis=1), expected)


@pytest.mark.slow
def test_probe_catches_a_serving_signature_that_answers_differently(tmp_path, trained, eval_split):
  """A broken export: serving_default answers off by one class. Both signatures load and answer;
  only comparing them on real examples shows it."""
  import tensorflow as tf

  from trainer_module import data, tf_serving
  from trainer_module.features import IMAGE_KEY, IMAGE_SIZE

  _, good_dir = trained
  good = tf.saved_model.load(good_dir)
  module = tf.Module()
  module.good = good

  @tf.function(
    input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.float32, name=IMAGE_KEY)]
  )
  def classify(image):
    return good.signatures['classify'](image=image)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(examples):
    images = data.decode_images(
      tf.io.parse_example(examples, {IMAGE_KEY: data.FEATURE_SPEC[IMAGE_KEY]})[IMAGE_KEY]
    )
    answer = good.signatures['classify'](image=images)
    return {
      'classes': (answer['classes'] + 1) % 10,
      'probabilities': tf.roll(answer['probabilities'], 1, axis=1),
    }

  broken = str(tmp_path / 'broken')
  tf.saved_model.save(module, broken, signatures={'classify': classify, 'serving_default': serve})
  os.makedirs(os.path.join(broken, 'assets.extra'))
  shutil.copy(
    os.path.join(good_dir, tf_serving.WARMUP_FILE), os.path.join(broken, tf_serving.WARMUP_FILE)
  )

  result = _probe(tmp_path, broken, eval_split[0])
  assert result['disagreements'] == EVAL_EXAMPLES
  reasons = judge(result, result['accuracy_classify'], EVAL_EXAMPLES, BOUND_MS)
  assert reasons == [
    f'classify and serving_default disagree on {EVAL_EXAMPLES} of {EVAL_EXAMPLES} eval examples'
  ]


@pytest.mark.slow
def test_a_model_that_does_not_load_is_one_line_not_a_crash(tmp_path, trained, eval_split):
  _, good_dir = trained
  damaged = str(tmp_path / 'damaged')
  shutil.copytree(good_dir, damaged)
  with open(os.path.join(damaged, 'saved_model.pb'), 'r+b') as f:
    f.truncate(100)  # a half-copied model
  result = _probe(tmp_path, damaged, eval_split[0])
  assert set(result) == {'error'} and '\n' not in result['error'] and result['error']
  [reason] = judge(result, 0.9, EVAL_EXAMPLES, BOUND_MS)
  assert reason.startswith('the model did not load and answer in a fresh process: ')


def test_a_probe_that_hangs_is_given_up(tmp_path, monkeypatch):
  """The probe's own process is bounded: a model that never answers is a reason, not a hang."""
  monkeypatch.setattr(serving_check, 'PROBE_MODULE', 'tests.components.sleeping_probe')
  result = serving_check.run_probe('/nowhere', '/nowhere/*', str(tmp_path / 'r.json'), timeout=1)
  assert result == {'error': 'no answer within 1 s'}


@pytest.mark.slow
def test_the_probe_runs_from_any_working_directory(tmp_path, monkeypatch):
  """Kubeflow's launcher and Beam workers start in other directories: the probe's PYTHONPATH
  names the project itself."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.delenv('PYTHONPATH', raising=False)
  result = serving_check.run_probe(
    str(tmp_path / 'no-model'), str(tmp_path / '*.gz'), str(tmp_path / 'r.json'), timeout=120
  )
  assert 'No module named' not in result['error']
  assert 'no-model' in result['error'] or 'SavedModel' in result['error'], result['error']


def test_read_result_of_a_blessing_without_one(tmp_path):
  assert read_serving_result(str(tmp_path)) is None
  assert read_serving_result(None) is None


@pytest.mark.slow
def test_a_probe_started_ahead_answers_as_a_fresh_one(tmp_path, trained, eval_split):
  """The local runner starts the probe's process while the Evaluator runs; given its model only
  afterwards, it must see exactly what a process started then sees."""
  _, model_dir = trained
  eval_glob, _, _ = eval_split
  (tmp_path / 'fresh').mkdir()
  (tmp_path / 'ahead').mkdir()
  fresh = serving_check.run_probe(
    model_dir, eval_glob, str(tmp_path / 'fresh' / 'r.json'), timeout=300
  )
  serving_check.prestart_probe()
  ahead = serving_check.run_probe(
    model_dir, eval_glob, str(tmp_path / 'ahead' / 'r.json'), timeout=300
  )
  assert (fresh['prestarted'], ahead['prestarted']) == (False, True)
  for key in (
    'examples',
    'accuracy_classify',
    'accuracy_serving_default',
    'disagreements',
    'warmup_requests',
    'refused',
    'signatures',
  ):
    assert ahead[key] == fresh[key], key
  answers = [np.load(tmp_path / d / ANSWERS_FILE) for d in ('fresh', 'ahead')]
  np.testing.assert_array_equal(answers[0]['probabilities'], answers[1]['probabilities'])
  # Taken once: the next probe starts its own process.
  again = serving_check.run_probe(
    model_dir, eval_glob, str(tmp_path / 'fresh' / 'r.json'), timeout=300
  )
  assert again['prestarted'] is False


@pytest.mark.slow
def test_a_probe_started_under_another_environment_is_not_used(tmp_path, monkeypatch):
  """What the process was started with must be what the ServingCheck would start it with; a
  stale one is told to stop (end of input: it exits 0 without work)."""
  serving_check.prestart_probe()
  stale = serving_check._prestarted.proc
  monkeypatch.setenv('MNIST_TFX_PROBE_TEST', '1')
  result = serving_check.run_probe(
    str(tmp_path / 'no-model'), str(tmp_path / '*.gz'), str(tmp_path / 'r.json'), timeout=120
  )
  assert 'error' in result
  assert stale.wait(timeout=120) == 0
  assert serving_check._prestarted is None
