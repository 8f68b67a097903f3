"""kubeflow.run_results: the KFP UI's metadata shapes, built from a report (no pipeline run)."""

import pytest

from kubeflow import run_results


def _report(accuracy=0.97, baseline=None, pushed_version='1795700000', matrix=None, servable=True):
  matrix = (
    matrix if matrix is not None else [[5 if i == j else 0 for j in range(10)] for i in range(10)]
  )
  report = {
    'summary': {
      'accuracy': accuracy,
      'baseline_accuracy': baseline,
      'blessed': accuracy is not None,
      'servable': servable,
      'pushed_version': pushed_version,
    },
    'gate': {'accuracy_threshold': 0.9},
    'label_histograms': {'eval': [5] * 10},
    'confusion_matrix': matrix,
  }
  if servable is not None:
    report['serving_check'] = {
      'latency': {
        '1': {'p50_ms': 0.8, 'p99_ms': 1.5, 'calls': 200},
        '1000': {'p50_ms': 70.0, 'p99_ms': 80.0},
      }
    }
  return report


def test_metrics_are_numbers_and_the_matrix_is_what_the_ui_reads():
  metadata = run_results.output_metadata(_report(baseline=0.96))
  assert metadata['metrics'] == {
    'accuracy': 0.97,
    'accuracy_threshold': 0.9,
    'baseline_accuracy': 0.96,
    'blessed': 1.0,
    'eval_examples': 50.0,
    'pushed_version': 1795700000.0,
    'servable': 1.0,
    'serving_latency_p50_ms': 0.8,
    'serving_latency_p99_ms': 1.5,
  }
  matrix = metadata['confusion_matrix']['confusionMatrix']
  assert [spec['displayName'] for spec in matrix['annotationSpecs']] == [str(i) for i in range(10)]
  assert matrix['rows'][3]['row'] == [0.0, 0.0, 0.0, 5.0] + [0.0] * 6
  assert metadata['report'] == {}


def test_missing_values_are_left_out_not_null():
  """KFP's launcher refuses a null metadata value (backend/src/v2/metadata/converter.go)."""
  metrics = run_results.output_metadata(_report(accuracy=None, pushed_version=None, servable=None))[
    'metrics'
  ]
  assert None not in metrics.values()
  assert set(metrics) == {'accuracy_threshold', 'blessed', 'eval_examples'}


def test_a_missing_input_is_named():
  with pytest.raises(ValueError, match='RunResults got no evaluation, pushed_model artifact'):
    run_results.collect(
      {
        name: {'uri': '/x'}
        for name in run_results.INPUTS
        if name not in ('evaluation', 'pushed_model')
      }
    )


def test_a_report_from_before_the_serving_check_still_renders_metrics():
  report = _report(servable=None)
  del report['summary']['servable']
  assert 'servable' not in run_results.output_metadata(report)['metrics']


def test_an_empty_confusion_matrix_is_left_out():
  """The UI would draw a 0x0 grid from an empty one."""
  assert run_results.output_metadata(_report(matrix=[]))['confusion_matrix'] == {}


def test_no_metric_takes_the_name_of_a_property_kfp_sets():
  metrics = run_results.output_metadata(_report(baseline=0.96))['metrics']
  assert not set(metrics) & set(run_results.RESERVED_PROPERTIES)


@pytest.mark.parametrize('tag', ['2.0.5', '2.5.0', '2.15.0', '2.17.0'])
def test_only_its_own_outputs_are_written(tag, tmp_path):
  """From 2.5.0 the driver adds executor-logs, which stays the launcher's (no KeyError)."""
  from tests.kubeflow import kfp_standin

  component = {
    'outputDefinitions': {
      'artifacts': {
        name: {'artifactType': {'schemaTitle': title}}
        for name, title in run_results.OUTPUTS.items()
      }
    }
  }
  profile = kfp_standin.PROFILES[tag]
  outputs = kfp_standin.provision_outputs(
    profile, component, 's3://mlpipeline/artifacts/p/r', run_results.TASK, str(tmp_path)
  )
  assert ('executor-logs' in outputs['artifacts']) == profile.publish_logs
  own = run_results.own_outputs({'outputs': outputs})
  assert set(own) == set(run_results.OUTPUTS)
  assert own['report']['uri'].endswith('/report')
  del outputs['artifacts']['report']
  with pytest.raises(ValueError, match='RunResults was given no report output'):
    run_results.own_outputs({'outputs': outputs})


def test_settings_come_from_the_setting_parameters():
  settings = run_results.settings_of(
    {
      'setting__Trainer__epochs': 3,
      'setting__Evaluator__accuracy_threshold': 0.5,
      'setting__Trainer__custom_config': '{"batch_size": 64, "learning_rate": 0.001}',
      'setting__MnistExampleGen__custom_config': (
        '{"custom_config": {"value": {"dataset": "fashion-mnist", "train_examples": 2000}}}'
      ),
      'unrelated': 'x',
    }
  )
  assert (
    settings['epochs'] == 3
    and settings['batch_size'] == 64
    and settings['accuracy_threshold'] == 0.5
  )
  assert settings['dataset'] == 'fashion-mnist' and settings['train_examples'] == 2000
  assert run_results.settings_of({}) == {}
