"""RunResults: each Kubeflow run's results where the KFP UI shows them (tensorflow/tfx#5475,
kubeflow/pipelines#2283), as KFP's own artifact types rather than TFX's.

A plain KFP container task that `kubeflow compile` appends after the Pusher (locally the HTML
report is written as before). Its outputs are what kubeflow/pipelines
frontend/src/components/viewers/MetricsVisualizations.tsx renders for an execution's outputs:
- `metrics` (system.Metrics): every numeric custom property is a row of the scalar table;
- `confusion_matrix` (system.ClassificationMetrics): metadata `confusionMatrix` =
  {annotationSpecs: [{displayName}], rows: [{row: [counts]}]}, rows = true labels, the shape
  the SDK's ClassificationMetrics.log_confusion_matrix writes (sdk/python/kfp/dsl/types/
  artifact_types.py); the launcher stores it as a struct the UI reads;
- `report` (system.HTML): one HTML file at the artifact's URI, shown in an iframe.
Metadata goes back through the ExecutorOutput file, as every KFP component's does, for these
three outputs only: any other output the driver adds (`executor-logs` from KFP 2.5 on) is the
launcher's. An empty confusion matrix is left out (the UI would draw a 0x0 grid), and no metric
is named after a property the launcher sets on every artifact (RESERVED_PROPERTIES).

    python -m kubeflow.run_results --executor_input '{{$}}'
"""

import json
import sys
from typing import Any, Dict, Optional

from tfx.dsl.io import fileio

from components.lib import artifact_files, names, object_storage
from components.lib.evaluation_result import read_evaluation
from inspection import model_quality, report_html
from inspection.settings import RECORDED, from_properties
from pipeline.local import run_record
from trainer_module.features import EVAL_SPLIT

TASK = names.RUN_RESULTS
# input name -> (producer task, its output key)
INPUTS = {
  'examples': (names.EXAMPLE_GEN, 'examples'),
  'model': (names.TRAINER, 'model'),
  'model_run': (names.TRAINER, 'model_run'),
  'evaluation': (names.EVALUATOR, 'evaluation'),
  'blessing': (names.EVALUATOR, 'blessing'),
  'serving_check': (names.SERVING_CHECK, 'blessing'),
  'pushed_model': (names.PUSHER, 'pushed_model'),
}
OUTPUTS = {
  'metrics': 'system.Metrics',
  'confusion_matrix': 'system.ClassificationMetrics',
  'report': 'system.HTML',
}
# Custom properties KFP's launcher puts on every output artifact it records (kubeflow/pipelines
# backend/src/v2/metadata/client.go RecordArtifact: display_name; store_session_info from 2.3.0,
# which the UI's scalar table shows as a row until 2.17.0 hides it: frontend/src/lib/
# ReservedArtifactProperties.ts). A metric of either name would be taken for that property.
RESERVED_PROPERTIES = ('display_name', 'store_session_info')
SETTING_PREFIX = 'setting__'  # input parameter `setting__<node>__<exec property>`: a run setting


def setting_inputs(tasks: Dict[str, Any], components: Dict[str, Any]) -> Dict[str, tuple]:
  """{parameter name: (its definition, its source)} for every exec property a run setting comes
  from (inspection/settings.py RECORDED), taken from the same source as the task that uses
  it (a constant, or a pipeline parameter such as epochs): the report shows what the run used."""
  found = {}
  for node, keys in RECORDED.items():
    if node not in tasks:
      continue
    definitions = (
      components[tasks[node]['componentRef']['name']]
      .get('inputDefinitions', {})
      .get('parameters', {})
    )
    sources = tasks[node].get('inputs', {}).get('parameters', {})
    for key in keys:
      if key in definitions and key in sources:
        found[f'{SETTING_PREFIX}{node}__{key}'] = (definitions[key], sources[key])
  return found


def settings_of(parameter_values: Dict[str, Any]) -> Dict[str, Any]:
  """The run's settings from RunResults' `setting__…` input parameters."""
  by_node: Dict[str, Dict[str, Any]] = {}
  for name, value in parameter_values.items():
    if name.startswith(SETTING_PREFIX):
      node, key = name[len(SETTING_PREFIX) :].split('__', 1)
      by_node.setdefault(node, {})[key] = value
  return from_properties(by_node) if by_node else {}


def add_to_spec(spec: Dict[str, Any], image: str) -> None:
  """Appends the task, its component and its executor to a compiled PipelineSpec (in place)."""
  components, tasks = spec['components'], spec['root']['dag']['tasks']
  settings = setting_inputs(tasks, components)
  input_types = {}
  for name, (producer, key) in INPUTS.items():
    producer_component = components[tasks[producer]['componentRef']['name']]
    input_types[name] = {
      'artifactType': producer_component['outputDefinitions']['artifacts'][key]['artifactType']
    }
  components[TASK] = {
    'executorLabel': f'{TASK}_executor',
    'inputDefinitions': {
      'artifacts': input_types,
      **({'parameters': {n: d for n, (d, _) in settings.items()}} if settings else {}),
    },
    'outputDefinitions': {
      'artifacts': {
        name: {'artifactType': {'schemaTitle': title, 'schemaVersion': '0.0.1'}}
        for name, title in OUTPUTS.items()
      }
    },
  }
  spec['deploymentSpec']['executors'][f'{TASK}_executor'] = {
    'container': {
      'image': image,
      'command': ['python', '-m', 'kubeflow.run_results'],
      'args': ['--executor_input', '{{$}}'],
    }
  }
  tasks[TASK] = {
    'taskInfo': {'name': TASK},
    'componentRef': {'name': TASK},
    'dependentTasks': sorted({producer for producer, _ in INPUTS.values()}),
    'cachingOptions': {'enableCache': True},
    'inputs': {
      'artifacts': {
        name: {'taskOutputArtifact': {'producerTask': producer, 'outputArtifactKey': key}}
        for name, (producer, key) in INPUTS.items()
      },
      **({'parameters': {n: s for n, (_, s) in settings.items()}} if settings else {}),
    },
  }


def collect(
  inputs: Dict[str, dict], parameter_values: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
  """The run report's data from the input artifacts and the settings' parameters alone (no ML
  Metadata access needed)."""
  missing = sorted(set(INPUTS) - set(inputs))
  if missing:
    raise ValueError(f'RunResults got no {", ".join(missing)} artifact (upstream task skipped?)')
  meta = {name: artifact.get('metadata', {}) for name, artifact in inputs.items()}
  evaluation = read_evaluation(inputs['evaluation']['uri'])
  accuracy, baseline, failures = (
    evaluation.accuracy,
    evaluation.baseline_accuracy,
    evaluation.failures,
  )
  pushed = meta['pushed_model']
  summary = {
    'accuracy': accuracy,
    'baseline_accuracy': baseline,
    'failures': failures,
    'blessed': bool(meta['blessing'].get('blessed')),
    'servable': bool(meta['serving_check'].get('blessed')),
    'pushed_version': pushed.get('pushed_version') if pushed.get('pushed') else None,
    'pushed_dir': pushed.get('pushed_destination'),
    'already_serving': pushed.get(names.ALREADY_SERVING),
    'component_states': {},
    'component_seconds': {},
    'uris': {name: artifact['uri'] for name, artifact in inputs.items()},
    'artifacts': {name: artifact.get('name', '') for name, artifact in inputs.items()},
    'settings': settings_of(parameter_values or {}),
    # Every task of the run runs in this one image, so this pod's libraries are the run's.
    'provenance': {'versions': run_record.versions(), 'machine': run_record.machine()},
  }
  title = f'{meta["blessing"].get("pipeline_name", "")} on Kubeflow'.strip()
  report = {
    'run_id': title,
    'summary': summary,
    'gate': {
      'accuracy_threshold': evaluation.accuracy_threshold,
      'accuracy': accuracy,
      'baseline_accuracy': baseline,
      'failures': failures,
      'change_threshold': evaluation.change_threshold,
    },
    'data': {
      k: v
      for k, v in meta['examples'].items()
      if k.startswith('sha256_') or k.endswith('_examples') or k == 'source_uri'
    },
  }
  serving_check = artifact_files.read_serving_result(inputs['serving_check']['uri'])
  if serving_check:
    report['serving_check'] = serving_check
    summary['serving_failures'] = serving_check.get('reasons', [])
  history = artifact_files.read_history(inputs['model_run']['uri'])
  if history:
    report['history'] = history
  report.update(
    model_quality.model_quality(
      inputs['examples']['uri'], inputs['model']['uri'], inputs['serving_check']['uri']
    )
  )
  return report


def output_metadata(report: Dict[str, Any]) -> Dict[str, dict]:
  """Each output's metadata in the shapes the KFP UI renders."""
  s = report['summary']
  metrics = {
    'accuracy': s['accuracy'],
    'accuracy_threshold': report['gate']['accuracy_threshold'],
    'baseline_accuracy': s['baseline_accuracy'],
    'blessed': 1.0 if s['blessed'] else 0.0,
    'servable': None if s.get('servable') is None else float(s['servable']),
    'eval_examples': float(sum(report['label_histograms'][EVAL_SPLIT])),
    'pushed_version': float(s['pushed_version']) if s['pushed_version'] else None,
  }
  single = (report.get('serving_check') or {}).get('latency', {}).get('1', {})
  metrics.update(
    {f'serving_latency_{k}': v for k, v in single.items() if k in ('p50_ms', 'p99_ms')}
  )
  metrics = {k: v for k, v in metrics.items() if v is not None}  # the launcher refuses nulls
  matrix = [row for row in report.get('confusion_matrix') or [] if row]
  confusion = (
    {
      'confusionMatrix': {
        'annotationSpecs': [{'displayName': str(i)} for i in range(len(matrix))],
        'rows': [{'row': [float(n) for n in row]} for row in matrix],
      }
    }
    if matrix
    else {}
  )
  return {'metrics': metrics, 'confusion_matrix': confusion, 'report': {}}


def own_outputs(executor_input: dict) -> Dict[str, dict]:
  """The outputs RunResults writes, by key; the rest (executor-logs) is the launcher's."""
  given = executor_input['outputs']['artifacts']
  missing = sorted(set(OUTPUTS) - set(given))
  if missing:
    raise ValueError(f'RunResults was given no {", ".join(missing)} output to write')
  return {name: given[name]['artifacts'][0] for name in OUTPUTS}


def main(argv) -> None:
  if object_storage.uses_s3(*argv):
    object_storage.enable_s3()
  executor_input = json.loads(argv[argv.index('--executor_input') + 1])
  inputs = {
    name: artifacts['artifacts'][0]
    for name, artifacts in executor_input['inputs']['artifacts'].items()
    if artifacts.get('artifacts')
  }
  report = collect(inputs, executor_input['inputs'].get('parameterValues', {}))
  outputs = own_outputs(executor_input)
  html_uri = outputs['report']['uri']
  parent = html_uri.rstrip('/').rsplit('/', 1)[0]
  fileio.makedirs(parent)
  with fileio.open(html_uri, 'w') as f:  # one file: the UI reads the object at the URI
    f.write(report_html.render(report))
  metadata = output_metadata(report)
  executor_output = {
    'artifacts': {
      name: {
        'artifacts': [
          {'name': artifact.get('name', ''), 'uri': artifact['uri'], 'metadata': metadata[name]}
        ]
      }
      for name, artifact in outputs.items()
    }
  }
  output_file = executor_input['outputs']['outputFile']
  fileio.makedirs(output_file.rsplit('/', 1)[0])
  with fileio.open(output_file, 'w') as f:
    f.write(json.dumps(executor_output))
  accuracy = report['summary']['accuracy']
  print(
    f'RunResults: accuracy {"-" if accuracy is None else f"{accuracy:.4f}"}, '
    f'{"blessed" if report["summary"]["blessed"] else "not blessed"}, '
    f'{"servable" if report["summary"]["servable"] else "NOT servable"}; report at {html_uri}'
  )


if __name__ == '__main__':
  main(sys.argv[1:])
