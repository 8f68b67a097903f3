"""The command every compiled task runs: TFX's Kubeflow V2 executor runner, after one repair.

Open-source KFP 2.x hands a task its upstream artifacts with an empty type
(`"type": {"instanceSchema": ""}`): the driver rebuilds them from ML Metadata and never fills
the schema (kubeflow/pipelines backend/src/v2/metadata/client.go,
GetOutputArtifactsByExecutionId). TFX 1.16 then fails before the executor starts
(kubeflow_v2_entrypoint_utils._retrieve_class_path: 'NoneType' object has no attribute 'get',
tensorflow/tfx#7768). The compiled args already carry each input's declared type
(--json_serialized_inputs_spec_args), so this fills the missing ones from there and hands over
to TFX unchanged. Vertex AI fills the types itself; there this changes nothing. A task that
names an s3:// URI gets s3:// enabled first (components/lib/object_storage.py).

KFP 2.5 and later, with log publishing on (the driver's default), also hand every task an output
it never declared: `executor-logs`, of KFP's own type system.Artifact, where the launcher puts
the task's log (backend/src/v2/driver/driver.go provisionOutputs). TFX would try to import that
type as a class and stop (`ImportError: Could not import system.Artifact`), so outputs of KFP's
`system.` types, which no TFX component declares, are taken out before TFX sees them; the
launcher still uploads and records them itself. What else differs between KFP releases needs
nothing here: TFX derives its temp dir and unique id from wherever `outputs.outputFile` is,
hashes an output's `name` whatever it is, and keeps unknown input metadata (store_session_info)
as custom properties.

Usage (as compiled): python -m kubeflow.entrypoint --executor_class_path … \
    --json_serialized_invocation_args '{{$}}' --json_serialized_inputs_spec_args '…' [beam args]
and, for ExampleGen's driver hook (Vertex): python -m kubeflow.entrypoint --example_gen_driver …
"""

import json
import sys
from typing import List

from components.lib import object_storage

INVOCATION_FLAG = '--json_serialized_invocation_args'
INPUTS_SPEC_FLAG = '--json_serialized_inputs_spec_args'
TFX_RUNNER = 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
TFX_DRIVER = 'tfx.orchestration.kubeflow.v2.file_based_example_gen.driver'
DRIVER_FLAG = '--example_gen_driver'  # first argument: run ExampleGen's driver (Vertex's hook)
LAUNCHER_OUTPUTS = ('executor-logs',)  # outputs KFP's launcher manages (driver.go provisionOutputs)
KFP_TYPE_PREFIX = 'system.'  # KFP's own artifact types: no TFX component declares one


def _title(artifact_type) -> str:
  """The type's schema title in either form ('' when it has none)."""
  if not isinstance(artifact_type, dict):
    return ''
  if artifact_type.get('schemaTitle'):
    return artifact_type['schemaTitle']
  for line in (artifact_type.get('instanceSchema') or '').splitlines():
    if line.startswith('title:'):
      return line[len('title:') :].strip()
  return ''


def _has_type(artifact_type) -> bool:
  """True when TFX can tell the artifact's class from it (a title in either form)."""
  return bool(_title(artifact_type))


def fill_input_types(executor_input: dict, inputs_spec: dict) -> List[str]:
  """Gives every untyped input artifact its declared type; returns the input names it filled."""
  declared = inputs_spec.get('artifacts', {})
  filled = []
  for name, artifact_list in executor_input.get('inputs', {}).get('artifacts', {}).items():
    for artifact in artifact_list.get('artifacts', []):
      if _has_type(artifact.get('type')):
        continue
      if name not in declared:
        raise ValueError(
          f'input artifact {name!r} has no type and the task declares no input '
          f'of that name in {INPUTS_SPEC_FLAG} '
          f'(declared: {", ".join(sorted(declared)) or "none"})'
        )
      artifact['type'] = dict(declared[name]['artifactType'])
      filled.append(name)
  return filled


def hide_launcher_outputs(executor_input: dict) -> List[str]:
  """Takes out the outputs the launcher manages, not TFX; returns their keys."""
  artifacts = executor_input.get('outputs', {}).get('artifacts', {})
  hidden = sorted(
    key
    for key, artifact_list in artifacts.items()
    if key in LAUNCHER_OUTPUTS
    or any(
      _title(a.get('type')).startswith(KFP_TYPE_PREFIX) for a in artifact_list.get('artifacts', [])
    )
  )
  for key in hidden:
    del artifacts[key]
  return hidden


def _value_of(argv: List[str], flag: str):
  """(index of the item holding the value, the value, the prefix written before it there)."""
  for i, arg in enumerate(argv):
    if arg == flag and i + 1 < len(argv):
      return i + 1, argv[i + 1], ''
    if arg.startswith(flag + '='):
      return i, arg[len(flag) + 1 :], flag + '='
  return None, None, ''


def repair_argv(argv: List[str]) -> List[str]:
  """The same arguments, with the invocation JSON's missing input types filled in and the
  launcher's own outputs taken out."""
  index, invocation, prefix = _value_of(argv, INVOCATION_FLAG)
  _, spec, _ = _value_of(argv, INPUTS_SPEC_FLAG)
  if index is None:
    return list(argv)
  executor_input = json.loads(invocation)
  filled = fill_input_types(executor_input, json.loads(spec) if spec else {})
  if not (hide_launcher_outputs(executor_input) or filled):
    return list(argv)
  repaired = list(argv)
  repaired[index] = prefix + json.dumps(executor_input)
  return repaired


def main(argv: List[str]) -> None:
  if object_storage.uses_s3(
    *argv
  ):  # before TFX touches a URI: see components/lib/object_storage.py
    object_storage.enable_s3()
  # Deferred: the repairs above are tested without TFX; only running an executor loads it.
  from absl import app

  if argv[:1] == [DRIVER_FLAG]:  # takes no input artifacts: nothing to repair
    from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver

    sys.argv = [TFX_DRIVER] + argv[1:]
    app.run(driver.main, flags_parser=driver._parse_flags)
    return
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as runner

  sys.argv = [TFX_RUNNER] + repair_argv(argv)
  app.run(runner.main, flags_parser=runner._parse_flags)


if __name__ == '__main__':
  main(sys.argv[1:])
