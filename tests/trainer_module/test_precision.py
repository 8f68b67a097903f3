"""--precision: what `auto` picks for which hardware, the mixed model's float32 ends, and an
exported mixed-precision model whose signatures are float32 in and out and answer as the same
weights do in float32."""

import numpy as np
import pytest

from trainer_module import precision

XEON_SAPPHIRE_RAPIDS = (
  'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 avx512f '
  'avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\n'
)
XEON_SKYLAKE = 'processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n'
COOPER_LAKE = 'flags\t\t: fpu avx512f avx512_bf16\n'
GRAVITON = 'processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n'


def test_cpu_flags_come_from_cpuinfo():
  assert {'avx512_bf16', 'amx_bf16', 'avx2'} <= precision.cpu_flags(XEON_SAPPHIRE_RAPIDS)
  assert 'avx512_bf16' not in precision.cpu_flags(XEON_SKYLAKE)
  assert precision.cpu_flags('') == set()


@pytest.mark.parametrize(
  'cpu, gpus, tpu, expected',
  [
    (XEON_SAPPHIRE_RAPIDS, [], False, 'mixed_bfloat16'),  # AMX
    (COOPER_LAKE, [], False, 'mixed_bfloat16'),  # AVX512_BF16
    (XEON_SKYLAKE, [], False, 'float32'),
    (GRAVITON, [], False, 'float32'),  # bf16 on ARM: not what TF's oneDNN path uses here
    ('', [], False, 'float32'),
    (XEON_SKYLAKE, [], True, 'mixed_bfloat16'),  # TPU
    (XEON_SAPPHIRE_RAPIDS, [], True, 'mixed_bfloat16'),
    (XEON_SKYLAKE, [(7, 0)], False, 'mixed_float16'),  # V100
    (XEON_SKYLAKE, [(8, 0), (8, 0)], False, 'mixed_float16'),  # A100s
    (XEON_SAPPHIRE_RAPIDS, [(9, 0)], False, 'mixed_float16'),  # H100: the GPU trains, not the CPU
    (XEON_SKYLAKE, [(6, 1)], False, 'float32'),  # P40: no tensor cores
    (XEON_SAPPHIRE_RAPIDS, [(6, 0)], False, 'float32'),
    (XEON_SKYLAKE, [(7, 5), (6, 1)], False, 'float32'),  # the slowest GPU decides
  ],
)
def test_auto_picks_by_hardware(cpu, gpus, tpu, expected):
  assert precision.choose('auto', precision.cpu_flags(cpu), gpus, tpu) == expected


@pytest.mark.parametrize('requested', ['float32', 'mixed_bfloat16', 'mixed_float16'])
def test_explicit_precision_is_kept_whatever_the_hardware(requested):
  assert (
    precision.choose(requested, precision.cpu_flags(XEON_SAPPHIRE_RAPIDS), [(8, 0)], True)
    == requested
  )
  assert precision.detect(requested) == requested


def test_auto_on_this_machine_follows_its_cpuinfo():
  with open('/proc/cpuinfo', encoding='utf-8') as f:
    flags = precision.cpu_flags(f.read())
  expected = 'mixed_bfloat16' if flags & {'avx512_bf16', 'amx_bf16'} else 'float32'
  assert precision.detect('auto') == expected  # no GPU or TPU on these machines
  assert precision.detect('auto', cpuinfo=XEON_SKYLAKE) == 'float32'


def test_unknown_precision_is_refused():
  with pytest.raises(ValueError, match="unknown precision 'fp8'"):
    precision.choose('fp8')


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
def test_mixed_model_keeps_float32_weights_and_logits(policy):
  from trainer_module.model import build_model

  model = build_model(policy)
  assert model.count_params() == 3_274_634
  compute = 'bfloat16' if policy == 'mixed_bfloat16' else 'float16'
  assert [layer.compute_dtype for layer in model.layers] == [compute] * 8 + ['float32']
  assert {w.dtype for w in model.weights} == {'float32'}
  assert model(np.zeros((2, 28, 28), np.float32)).dtype == 'float32'


@pytest.mark.slow  # trains one epoch on 1,200 examples and exports
def test_exported_mixed_model_is_float32_in_and_out(small_train_records, mnist_dir, tmp_path):
  import keras
  import tensorflow as tf

  from components.lib import idx
  from trainer_module import export, task
  from trainer_module.config import TrainingConfig
  from trainer_module.model import build_model

  keras.utils.set_random_seed(3)
  model, history, _ = task.train(
    TrainingConfig(epochs=1, precision='mixed_bfloat16', seed=3),
    small_train_records,
    str(tmp_path / 'run'),
    verbose=0,
  )
  assert history['val_accuracy'][0] > 0.6
  export.export_serving_model(model, str(tmp_path / 'model'))
  classify = tf.saved_model.load(str(tmp_path / 'model')).signatures['classify']
  assert classify.structured_input_signature[1]['image'].dtype == tf.float32
  assert {k: v.dtype for k, v in classify.structured_outputs.items()} == {
    'classes': tf.int64,
    'probabilities': tf.float32,
  }

  reference = build_model('float32')  # the same weights, computed in float32
  reference.set_weights(model.get_weights())
  images = (idx.load_split(mnist_dir, 't10k').images[:500] / 255.0).astype(np.float32)
  answer = classify(image=tf.constant(images))
  expected = tf.nn.softmax(reference(images, training=False)).numpy()
  assert answer['probabilities'].dtype == tf.float32
  np.testing.assert_allclose(
    answer['probabilities'], expected, atol=0.05
  )  # bfloat16: 8-bit mantissa
  agree = np.mean(answer['classes'].numpy() == np.argmax(expected, axis=1))
  assert agree >= 0.98, agree


@pytest.mark.slow  # float16 on a CPU is emulated, ~100x slower than float32: three steps only
@pytest.mark.parametrize('loop', ['fit', 'custom'])
def test_mixed_float16_trains_with_loss_scaling_under_both_loops(tmp_path, mnist_dir, loop):
  import math

  from components.mnist_example_gen import write_records
  from trainer_module import task
  from trainer_module.config import TrainingConfig

  records = write_records(mnist_dir, str(tmp_path / 'train' / 'data.gz'), count=256)
  config = TrainingConfig(
    epochs=1, batch_size=64, training_loop=loop, precision='mixed_float16', validation_examples=64
  )
  model, history, _ = task.train(config, records, None, verbose=0)
  assert model.layers[1].compute_dtype == 'float16' and model.layers[-1].compute_dtype == 'float32'
  assert set(history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
  assert all(math.isfinite(v) for values in history.values() for v in values)
