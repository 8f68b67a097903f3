"""What KFP's driver makes of a task's ResourceSpec: the pod's resources, as
kubeflow/pipelines backend/src/v2/driver/driver.go initPodSpecPatch writes them.

- 2.0.5 to 2.3.0: memoryLimit / memoryRequest (doubles) as fmt.Sprintf("%vG", v), cpuLimit /
  cpuRequest as "%v", each only when not 0; accelerator: when type != "" and count > 0,
  limits[type] = count.
- 2.4.0 to 2.17.0: getPodResource(new string field, old double field, "%vG" or "%v"): the string
  (resourceMemoryLimit, resourceCpuRequest, …) when set, else the double as before; accelerator:
  resourceType or type, resourceCount or count (when > 0).

Go's %v of a float64 is strconv's shortest 'g' form (16 → "16", 0.5 → "0.5", 17.179869184 →
"17.179869184"); Python's repr of a float gives the same digits for these values."""

from typing import Any, Dict


def _go_float(value: float) -> str:
  text = repr(float(value))
  return text[:-2] if text.endswith('.0') else text


def pod_resources(resources: Dict[str, Any], tag: str) -> Dict[str, Dict[str, str]]:
  """{'limits': {...}, 'requests': {...}} of the pod for a compiled `resources` block."""
  newer = tuple(int(x) for x in tag.split('.')) >= (2, 4, 0)
  pod: Dict[str, Dict[str, str]] = {'limits': {}, 'requests': {}}
  for kind, new_field, old_field, unit in (
    ('limits', 'resourceMemoryLimit', 'memoryLimit', 'G'),
    ('requests', 'resourceMemoryRequest', 'memoryRequest', 'G'),
    ('limits', 'resourceCpuLimit', 'cpuLimit', ''),
    ('requests', 'resourceCpuRequest', 'cpuRequest', ''),
  ):
    name = 'memory' if 'emory' in old_field else 'cpu'
    if newer and resources.get(new_field):
      pod[kind][name] = resources[new_field]
    elif resources.get(old_field, 0) != 0:
      pod[kind][name] = _go_float(resources[old_field]) + unit
  accelerator = resources.get('accelerator') or {}
  kind_name = (accelerator.get('resourceType') if newer else None) or accelerator.get('type', '')
  count = (accelerator.get('resourceCount') if newer else None) or (
    str(accelerator['count']) if int(accelerator.get('count', 0)) > 0 else ''
  )
  if kind_name and count:
    pod['limits'][kind_name] = count
  return pod
