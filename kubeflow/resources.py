"""`kubeflow compile --resources COMPONENT=cpu:N,memory:SIZE[,gpu:N][,gpu-type:T]`: the container
resources of the named tasks, written into the compiled spec as every reader takes them.

The IR field is PipelineContainerSpec.ResourceSpec (kfp-pipeline-spec 0.2.2, the lock's):
cpuLimit, cpuRequest (cores), memoryLimit, memoryRequest (in G, 10^9 bytes) and
accelerator {type, count}. KFP's driver reads them on every release (kubeflow/pipelines
backend/src/v2/driver/driver.go initPodSpecPatch: 2.0.5 to 2.3.0 these fields alone, memory as
"%vG"; from 2.4.0 getPodResource prefers the newer string fields, which this spec leaves unset,
and falls back to these) and puts the accelerator's count under its type in the pod's limits, so
on KFP the type is a Kubernetes resource name (nvidia.com/gpu). Vertex AI takes the limits and an
accelerator type of its own (NVIDIA_TESLA_T4, …), as kfp's set_cpu_limit, set_memory_limit and
set_accelerator_type write them (kfp/dsl/pipeline_task.py, kfp 2.5); there the requests are left
out. No heavy imports: parsed before TFX loads."""

import dataclasses
import re
from typing import Any, Dict, List, Optional, Tuple

from components.lib import names

# Tasks that run a container, per target (tests/kubeflow/test_resources.py compares them with
# the compiled spec): Vertex runs TFX's resolver instead of the lookup and the copy.
_COMMON = (
  names.EXAMPLE_GEN,
  names.IMPORT_SCHEMA_GEN,
  names.STATISTICS_GEN,
  names.SCHEMA_GEN,
  names.EXAMPLE_VALIDATOR,
  names.TRAINER,
  names.EVALUATOR,
  names.SERVING_CHECK,
  names.PUSHER,
  names.RUN_RESULTS,
)
COMPONENTS = {
  'kfp': _COMMON + (names.BASELINE_LOOKUP, names.BASELINE_COPY),
  'vertex': _COMMON,
}
KFP_GPU = 'nvidia.com/gpu'  # the device plugin's resource name, kfp's own example
MAX_CPU = 512.0
MIN_MEMORY, MAX_MEMORY = 1 << 20, 64 << 40  # 1 Mi to 64 Ti
MAX_GPU = 16
_UNITS = {
  '': 1,
  'k': 10**3,
  'K': 10**3,
  'M': 10**6,
  'G': 10**9,
  'T': 10**12,
  'Ki': 1 << 10,
  'Mi': 1 << 20,
  'Gi': 1 << 30,
  'Ti': 1 << 40,
}
_CPU = re.compile(r'(\d{1,6}(?:\.\d{1,3})?)(m?)', re.ASCII)
_MEMORY = re.compile(r'(\d{1,15}(?:\.\d{1,9})?)(Ki|Mi|Gi|Ti|[kKMGT]?)', re.ASCII)
# A Kubernetes extended resource name (domain/name), e.g. nvidia.com/gpu, amd.com/gpu.
_K8S_RESOURCE = re.compile(
  r'[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?', re.ASCII
)
_VERTEX_ACCELERATOR = re.compile(r'[A-Z][A-Z0-9_]{1,63}', re.ASCII)  # NVIDIA_TESLA_T4, TPU_V3
FORM = 'COMPONENT=cpu:N,memory:SIZE[,gpu:N][,gpu-type:T]'


@dataclasses.dataclass(frozen=True)
class Resources:
  cpu: Optional[float] = None  # cores
  memory: Optional[int] = None  # bytes
  gpu: Optional[int] = None
  gpu_type: Optional[str] = None

  def memory_g(self) -> Optional[float]:
    return None if self.memory is None else round(self.memory / 1e9, 9)


def _cpu(text: str, where: str) -> float:
  match = _CPU.fullmatch(text)
  if not match:
    raise ValueError(f'{where}: cpu {text!r}: a number of cores (4, 0.5) or millicores (500m)')
  value = float(match.group(1)) / (1000 if match.group(2) else 1)
  if not 0.001 <= value <= MAX_CPU:
    raise ValueError(f'{where}: cpu {text!r}: between 1m and {MAX_CPU:g} cores')
  return value


def _memory(text: str, where: str) -> int:
  match = _MEMORY.fullmatch(text)
  if not match:
    raise ValueError(f'{where}: memory {text!r}: a Kubernetes quantity, e.g. 16G, 16Gi or 512Mi')
  value = int(float(match.group(1)) * _UNITS[match.group(2)])
  if not MIN_MEMORY <= value <= MAX_MEMORY:
    raise ValueError(f'{where}: memory {text!r}: between 1Mi and 64Ti')
  return value


def _gpu(text: str, where: str) -> int:
  if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_GPU):
    raise ValueError(f'{where}: gpu {text!r}: a whole number from 1 to {MAX_GPU}')
  return int(text)


def _gpu_type(text: str, where: str, target: str) -> str:
  if target == 'vertex' and not _VERTEX_ACCELERATOR.fullmatch(text):
    raise ValueError(
      f'{where}: gpu-type {text!r}: on --target vertex, a Vertex AI accelerator type such as '
      'NVIDIA_TESLA_T4 or NVIDIA_L4'
    )
  if target == 'kfp' and not _K8S_RESOURCE.fullmatch(text):
    raise ValueError(
      f'{where}: gpu-type {text!r}: on --target kfp, the Kubernetes resource name of the GPUs '
      f'(default {KFP_GPU}; e.g. amd.com/gpu)'
    )
  return text


def parse_one(text: str, target: str) -> Tuple[str, Resources]:
  component, sep, settings = text.partition('=')
  if not sep or not component or not settings:
    raise ValueError(f'--resources {text!r}: expected {FORM}')
  known = COMPONENTS[target]
  if component not in known:
    raise ValueError(
      f'--resources {text!r}: no component {component!r} on --target {target} '
      f'(it has: {", ".join(sorted(known))})'
    )
  where = f'--resources {component}'
  values: Dict[str, str] = {}
  for item in settings.split(','):
    key, colon, value = item.partition(':')
    if not colon or not value:
      raise ValueError(f'{where}: {item!r} is not KEY:VALUE (expected {FORM})')
    if key not in ('cpu', 'memory', 'gpu', 'gpu-type'):
      raise ValueError(f'{where}: unknown key {key!r} (cpu, memory, gpu, gpu-type)')
    if key in values:
      raise ValueError(f'{where}: {key} is given twice')
    values[key] = value
  if 'gpu-type' in values and 'gpu' not in values:
    raise ValueError(f'{where}: gpu-type needs gpu:N')
  gpu = _gpu(values['gpu'], where) if 'gpu' in values else None
  gpu_type = _gpu_type(values['gpu-type'], where, target) if 'gpu-type' in values else None
  if gpu and gpu_type is None:
    if target == 'vertex':
      raise ValueError(
        f'{where}: on --target vertex, gpu:N needs gpu-type:T (e.g. NVIDIA_TESLA_T4)'
      )
    gpu_type = KFP_GPU
  return component, Resources(
    cpu=_cpu(values['cpu'], where) if 'cpu' in values else None,
    memory=_memory(values['memory'], where) if 'memory' in values else None,
    gpu=gpu,
    gpu_type=gpu_type,
  )


def parse(texts: List[str], target: str) -> Dict[str, Resources]:
  """{component: Resources} from the repeated flag; ValueError (a usage error) with one line."""
  found: Dict[str, Resources] = {}
  for text in texts or []:
    component, resources = parse_one(text, target)
    if component in found:
      raise ValueError(f'--resources {component}: given twice')
    found[component] = resources
  return found


def resource_spec(resources: Resources, target: str) -> Dict[str, Any]:
  """The ResourceSpec as JSON: limits (and on KFP equal requests), the accelerator."""
  spec: Dict[str, Any] = {}
  if resources.cpu is not None:
    spec['cpuLimit'] = resources.cpu
    if target == 'kfp':
      spec['cpuRequest'] = resources.cpu
  if resources.memory is not None:
    spec['memoryLimit'] = resources.memory_g()
    if target == 'kfp':
      spec['memoryRequest'] = resources.memory_g()
  if resources.gpu:
    spec['accelerator'] = {'type': resources.gpu_type, 'count': resources.gpu}
  return spec


def apply(spec: Dict[str, Any], chosen: Dict[str, Resources], target: str) -> None:
  """Sets each named task's container resources in the compiled PipelineSpec (only theirs)."""
  tasks = spec['root']['dag']['tasks']
  for component, resources in chosen.items():
    if component not in tasks:
      raise ValueError(f'--resources {component}: the compiled pipeline has no such task')
    label = spec['components'][tasks[component]['componentRef']['name']]['executorLabel']
    container = spec['deploymentSpec']['executors'][label].get('container')
    if container is None:
      raise ValueError(f'--resources {component}: that task runs no container on {target}')
    container['resources'] = resource_spec(resources, target)


def describe(resources: Resources, target: str) -> str:
  """One line for the compile summary."""
  kind = 'request and limit' if target == 'kfp' else 'limit'
  parts = []
  if resources.cpu is not None:
    parts.append(f'cpu {resources.cpu:g} ({kind})')
  if resources.memory is not None:
    parts.append(f'memory {resources.memory_g():g}G ({kind})')
  if resources.gpu:
    parts.append(f'{resources.gpu} x {resources.gpu_type}')
  return ', '.join(parts)
