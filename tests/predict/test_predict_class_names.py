"""predict's class names: from the model's lineage, else the digits."""

import os

from predict import models


def test_models_of_runs_before_data_sets_answer_with_digits(recorded):
  output_dir, _ = recorded
  serving = os.path.join(output_dir, 'serving')
  versions = [n for n in os.listdir(serving) if n.isdigit()] if os.path.isdir(serving) else []
  for version in versions + ['1796669091']:
    assert models.class_names(os.path.join(serving, version)) == [str(i) for i in range(10)]


def test_no_store_or_no_record_means_digits(tmp_path):
  assert models.class_names(str(tmp_path)) == models.DIGITS
  assert models.class_names(str(tmp_path / 'serving' / '17')) == models.DIGITS
