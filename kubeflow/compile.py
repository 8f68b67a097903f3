"""Compiles create_pipeline(...) with TFX's KubeflowV2DagRunner into two files:

- pipeline.yaml: the bare PipelineSpec (open-source KFP 2.x: `kfp pipeline create`,
  upload_pipeline),
- pipeline.json: the PipelineJob with its runtimeConfig (Vertex AI Pipelines).

No network, no credentials, nothing written to the pipeline root.
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration import data_types

from components.lib import names
from kubeflow import DEFAULT_MLMD_ADDRESS, entrypoint, run_results
from kubeflow import resources as resources_lib
from kubeflow.arguments import check_image, check_mlmd_address, check_output, check_pipeline_name
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def runtime_parameter_defaults(pipeline) -> Dict[str, Any]:
  """name → default of every RuntimeParameter the pipeline's components take."""
  defaults = {}
  for component in pipeline.components:
    for value in component.exec_properties.values():
      if isinstance(value, data_types.RuntimeParameter):
        defaults[value.name] = value.default
  return defaults


TARGETS = ('kfp', 'vertex')
BASELINE_TASK = names.BASELINE_LOOKUP
ENTRYPOINT_MODULE = 'kubeflow.entrypoint'  # fills the input types open-source KFP leaves empty


def scope_vertex_resolver(spec: Dict[str, Any], pipeline_name: str) -> None:
  """Vertex's metadata store is shared by every pipeline of a project and region: TFX's
  resolver query takes the newest blessing of any of them. Only this pipeline's count
  (MnistEvaluator stamps each blessing with its pipeline's name)."""
  for executor in spec['deploymentSpec']['executors'].values():
    for query in executor.get('resolver', {}).get('outputArtifactQueries', {}).values():
      if 'schema_title="tfx.ModelBlessing"' in query['filter']:
        query['filter'] += f' AND metadata.{names.PIPELINE_NAME}.string_value="{pipeline_name}"'


def name_parameter_producers(spec: Dict[str, Any]) -> None:
  """TFX 1.16 names the producer of a task output parameter `<component id>_task`
  (tfx/orchestration/kubeflow/v2/step_builder.py, StepBuilder.build), but names the task itself
  `<component id>`; KFP's compiler refuses the run ("unknown producer task", backend/src/v2/
  compiler/argocompiler/dag.go addImplicitDependencies). Names the real task."""
  tasks = spec['root']['dag']['tasks']
  for task in tasks.values():
    for source in task.get('inputs', {}).get('parameters', {}).values():
      output = source.get('taskOutputParameter')
      if (
        output and output['producerTask'] not in tasks and output['producerTask'].endswith('_task')
      ):
        output['producerTask'] = output['producerTask'][: -len('_task')]


def use_entrypoint(spec: Dict[str, Any]) -> None:
  """Points every executor's command, and ExampleGen's driver hook, at our entrypoint."""
  for executor in spec['deploymentSpec']['executors'].values():
    container = executor.get('container', {})
    command = container.get('command')
    if command and command[-1] == entrypoint.TFX_RUNNER:
      command[-1] = ENTRYPOINT_MODULE
    driver = container.get('lifecycle', {}).get('preCacheCheck', {})
    if driver.get('command', [])[-1:] == [entrypoint.TFX_DRIVER]:
      driver['command'] = driver['command'][:-1] + [ENTRYPOINT_MODULE, entrypoint.DRIVER_FLAG]


def compile_pipeline(
  config: PipelineConfig,
  image: str,
  output_yaml: str,
  target: str = 'kfp',
  mlmd_address: str = DEFAULT_MLMD_ADDRESS,
  resources: Optional[Dict[str, resources_lib.Resources]] = None,
) -> Tuple[str, str]:
  """Writes pipeline.yaml and pipeline.json (beside it); returns both paths.

  target 'kfp' (open-source Kubeflow Pipelines 2.x) looks the baseline model up in KFP's ML
  Metadata at `mlmd_address`; 'vertex' keeps TFX's Resolver, which only Vertex AI can run.
  resources: the container resources of the tasks named (kubeflow/resources.py).
  """
  check_output(output_yaml)
  if target not in TARGETS:
    raise ValueError(f'unknown target {target!r}; choose one of {", ".join(TARGETS)}')
  check_image(image)
  check_pipeline_name(config.pipeline_name)
  if target == 'kfp':
    check_mlmd_address(mlmd_address)
  pipeline = create_pipeline(
    config, runtime_parameters=True, kfp_mlmd_address=mlmd_address if target == 'kfp' else None
  )
  defaults = runtime_parameter_defaults(pipeline)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
    # Schema 2.1: parameters travel as `parameterValues` with typed input specs, as KFP 2.x
    # backends send them (the 2.0 form reads the deprecated `parameters` field).
    config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
      default_image=image, use_pipeline_spec_2_1=True
    )
  )
  job = runner.run(pipeline, parameter_values=defaults, write_out=False)

  spec = job['pipelineSpec']
  root_parameters = spec['root'].setdefault('inputDefinitions', {}).setdefault('parameters', {})
  for name, default in defaults.items():
    root_parameters[name].update(defaultValue=default, isOptional=True)
  spec['defaultPipelineRoot'] = config.pipeline_root
  use_entrypoint(spec)
  name_parameter_producers(spec)
  scope_vertex_resolver(spec, config.pipeline_name)
  run_results.add_to_spec(spec, image)  # results the KFP UI shows (metrics, confusion, report)
  resources_lib.apply(spec, resources or {}, target)
  if BASELINE_TASK in spec['root']['dag']['tasks']:
    # Its answer depends on the metadata store, not on its inputs: never reuse a cached one. It
    # hands on a URI, a parameter, so the cached BaselineModel after it keeps its cache key.
    spec['root']['dag']['tasks'][BASELINE_TASK]['cachingOptions'] = {'enableCache': False}
  # Both must parse strictly, or a backend would refuse them later.
  json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
  json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())

  output_dir = os.path.dirname(os.path.abspath(output_yaml))
  os.makedirs(output_dir, exist_ok=True)
  output_json = os.path.splitext(output_yaml)[0] + '.json'
  with open(output_yaml, 'w') as f:
    f.write(
      f'# PIPELINE DEFINITION\n# Name: {config.pipeline_name}\n'
      f'# Compiled from create_pipeline() by TFX KubeflowV2DagRunner; image {image}\n'
    )
    yaml.safe_dump(spec, f, sort_keys=True)
  with open(output_json, 'w') as f:
    json.dump(job, f, sort_keys=True, indent=1)
  return output_yaml, output_json
