"""kubeflow.run_results: the KFP UI's metadata shapes, built from a report (no pipeline run)."""
import pytest

from kubeflow import run_results


def _report(accuracy=0.97, baseline=None, pushed_version='1795700000', matrix=None):
  matrix = matrix if matrix is not None else [[5 if i == j else 0 for j in range(10)] for i in range(10)]
  return {'summary': {'accuracy': accuracy, 'baseline_accuracy': baseline, 'blessed': accuracy is not None,
                      'pushed_version': pushed_version},
          'gate': {'lower_bound': 0.9}, 'label_histograms': {'eval': [5] * 10},
          'confusion_matrix': matrix}


def test_metrics_are_numbers_and_the_matrix_is_what_the_ui_reads():
  metadata = run_results.output_metadata(_report(baseline=0.96))
  assert metadata['metrics'] == {'accuracy': 0.97, 'accuracy_threshold': 0.9, 'baseline_accuracy': 0.96,
                                 'blessed': 1.0, 'eval_examples': 50.0, 'pushed_version': 1795700000.0}
  matrix = metadata['confusion_matrix']['confusionMatrix']
  assert [spec['displayName'] for spec in matrix['annotationSpecs']] == [str(i) for i in range(10)]
  assert matrix['rows'][3]['row'] == [0.0, 0.0, 0.0, 5.0] + [0.0] * 6
  assert metadata['report'] == {}


def test_missing_values_are_left_out_not_null():
  """KFP's launcher refuses a null metadata value (backend/src/v2/metadata/converter.go)."""
  metrics = run_results.output_metadata(_report(accuracy=None, pushed_version=None))['metrics']
  assert None not in metrics.values()
  assert set(metrics) == {'accuracy_threshold', 'blessed', 'eval_examples'}


def test_a_missing_input_is_named():
  with pytest.raises(ValueError, match='RunResults got no evaluation, pushed_model artifact'):
    run_results.collect({name: {'uri': '/x'} for name in run_results.INPUTS
                         if name not in ('evaluation', 'pushed_model')})
