"""--precision: float32 or Keras mixed precision, and what `auto` picks on this hardware.

`auto` picks mixed_bfloat16 on CPUs with AVX512_BF16 or AMX (oneDNN runs bf16 there natively) and
on TPUs, mixed_float16 on GPUs with tensor cores (compute capability 7.0 or later), else float32.
Under either mixed policy the model computes in 16 bits with float32 weights; its last Dense layer
(the logits) and the softmax stay float32, and the exported signatures stay float32 in and out.
The choice itself (`choose`) is a pure function of the flags found, so it is unit-tested; `detect`
reads them from /proc/cpuinfo and TensorFlow's device list.
"""

from typing import Iterable, Optional, Sequence, Set, Tuple

from trainer_module.config import PRECISIONS

FLOAT32 = 'float32'
MIXED_BFLOAT16 = 'mixed_bfloat16'
MIXED_FLOAT16 = 'mixed_float16'
# /proc/cpuinfo flags of CPUs with native bfloat16 matrix math.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')
TENSOR_CORE_CAPABILITY = (7, 0)  # Volta and later


def cpu_flags(cpuinfo: str) -> Set[str]:
  """The `flags` of the first processor in /proc/cpuinfo text (all cores of a machine agree)."""
  for line in cpuinfo.splitlines():
    key, _, value = line.partition(':')
    if key.strip() in ('flags', 'Features'):
      return set(value.split())
  return set()


def choose(
  requested: str,
  cpu: Iterable[str] = (),
  gpu_capabilities: Sequence[Tuple[int, int]] = (),
  tpu: bool = False,
) -> str:
  """The policy `requested` stands for: itself, or for `auto` what suits the devices.

  cpu: the CPU's flags; gpu_capabilities: (major, minor) of each GPU that will train; tpu: training
  on a TPU. Devices that train win over the host CPU: a TPU, then GPUs (all must have tensor cores,
  or a slow one holds back the rest), then the CPU."""
  if requested not in PRECISIONS:
    raise ValueError(f'unknown precision {requested!r}; choose one of {", ".join(PRECISIONS)}')
  if requested != 'auto':
    return requested
  if tpu:
    return MIXED_BFLOAT16
  if gpu_capabilities:
    if all(tuple(c) >= TENSOR_CORE_CAPABILITY for c in gpu_capabilities):
      return MIXED_FLOAT16
    return FLOAT32
  if set(cpu) & set(BF16_CPU_FLAGS):
    return MIXED_BFLOAT16
  return FLOAT32


def _read_cpuinfo(path: str = '/proc/cpuinfo') -> str:
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      return f.read()
  except OSError:
    return ''  # not Linux: no CPU flags, so float32 on a CPU


def _gpu_capabilities():
  import tensorflow as tf  # deferred: the CPU-flag rule above is pure; only GPUs need TF

  capabilities = []
  for gpu in tf.config.list_physical_devices('GPU'):
    details = tf.config.experimental.get_device_details(gpu)
    capabilities.append(tuple(details.get('compute_capability') or (0, 0)))
  return capabilities


def detect(requested: str, tpu: bool = False, cpuinfo: Optional[str] = None) -> str:
  """`choose` with the flags of this machine (the one that trains)."""
  if requested != 'auto':
    return choose(requested)
  return choose(
    requested,
    cpu_flags(_read_cpuinfo() if cpuinfo is None else cpuinfo),
    [] if tpu else _gpu_capabilities(),
    tpu,
  )
