"""predict's class names and picture rule: the model's own names, else its lineage's, else the
indices (the digits for MNIST's 10); pictures prepared as its training data was."""

import os

import numpy as np
import pytest
from PIL import Image

from predict import cli, models, pictures


def test_models_of_runs_before_data_sets_answer_with_digits(recorded):
  output_dir, _ = recorded
  serving = os.path.join(output_dir, 'serving')
  versions = [n for n in os.listdir(serving) if n.isdigit()] if os.path.isdir(serving) else []
  for version in versions + ['1796669091']:
    assert models.class_names(os.path.join(serving, version)) == [str(i) for i in range(10)]


def test_no_store_or_no_record_means_digits(tmp_path):
  assert models.class_names(str(tmp_path)) == models.DIGITS
  assert models.class_names(str(tmp_path / 'serving' / '17')) == models.DIGITS


@pytest.fixture(scope='module')
def three_classes(tmp_path_factory):
  """A version of a model of three named classes (--dataset images), trained a little on
  stripes: bag = vertical, sneaker = horizontal, trouser = blank; outside any output dir."""
  import keras

  from trainer_module import export
  from trainer_module.model import build_model

  images = np.zeros((90, 28, 28), np.float32)
  images[:30, :, 10:18] = 1.0
  images[30:60, 10:18, :] = 1.0
  labels = np.repeat(np.arange(3), 30)
  keras.utils.set_random_seed(0)
  model = build_model(num_classes=3)
  model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
  )
  model.fit(images, labels, epochs=8, verbose=0)
  version = tmp_path_factory.mktemp('three') / 'serving' / '7'
  export.export_serving_model(model, str(version), False, ['bag', 'sneaker', 'trouser'])
  return str(version)


@pytest.mark.slow
def test_a_model_of_its_own_classes_answers_by_name_and_prepares_whole_pictures(
  three_classes, tmp_path, capsys
):
  signature = models.load_classify(three_classes)
  assert models.class_count(signature) == 3 and models.answers_names(signature)
  assert models.class_names(three_classes, signature) == ['0', '1', '2']  # no lineage here
  assert models.picture_rule(three_classes, signature) == pictures.WHOLE
  # A wide picture, dark with a light horizontal band: whole, it is the model's `sneaker`; the
  # digits' rule would crop the band alone and centre it.
  band = np.zeros((60, 120), np.uint8)
  band[25:35, :] = 255
  path = str(tmp_path / 'band.png')
  Image.fromarray(band).save(path)
  whole = pictures.load(path, pictures.WHOLE)[0][0]
  assert whole.shape == (28, 28) and whole[:, 0].max() > 0.9  # the band reaches both edges
  assert cli.main(['--model', three_classes, path]) == 0
  out = capsys.readouterr().out
  assert out == f'{path}: 1 sneaker (p={out.rsplit("(p=", 1)[1]}'


def test_a_ten_class_model_without_lineage_prepares_digits(tmp_path):
  import keras

  from trainer_module import export
  from trainer_module.model import build_model

  keras.utils.set_random_seed(0)
  version = str(tmp_path / 'serving' / '3')
  export.export_serving_model(build_model(), version)
  signature = models.load_classify(version)
  assert models.picture_rule(version, signature) == pictures.DIGIT
  assert models.class_names(version, signature) == models.DIGITS
