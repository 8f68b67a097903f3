"""pipeline.predict's class names: from the model's lineage, else the digits."""
import os

from predict import cli


def test_models_of_runs_before_data_sets_answer_with_digits(recorded):
  output_dir, _ = recorded
  versions = [n for n in os.listdir(os.path.join(output_dir, 'serving')) if n.isdigit()] \
      if os.path.isdir(os.path.join(output_dir, 'serving')) else []
  for version in versions + ['1795742029']:
    assert cli.class_names(version, output_dir) == [str(i) for i in range(10)]


def test_no_store_or_no_version_means_digits(tmp_path):
  assert cli.class_names('', str(tmp_path)) == cli.DIGITS
  assert cli.class_names('17', str(tmp_path)) == cli.DIGITS
  assert cli._output_dir_of(str(tmp_path / 'serving' / '17'), 'elsewhere') == 'elsewhere'
