"""tf.data input pipeline over ExampleGen's GZIP TFRecords of tf.train.Example."""

from typing import List, Optional, Union

import tensorflow as tf

from trainer_module.features import IMAGE_KEY, IMAGE_SIZE, LABEL_KEY

FEATURE_SPEC = {
  IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
  LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}


IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE  # one uint8 per pixel
# tf.data's autotuner re-decides its threads and buffers for every epoch's iterator, and on 2
# cores about one epoch in three it settled where it took CPU from training: 20-21 s epochs
# instead of 12 (6 epochs, bfloat16, augmented: 13.7 11.5 20.5 20.6 12.3 12.8 s with it,
# 14.6 12.3 12.0 11.9 11.6 11.9 s without; a second pair alike). Off, the AUTOTUNE values below
# are fixed ones (parallelism = the cores).
AUTOTUNE_ENABLED = False


def decode_images(serialized_images: tf.Tensor) -> tf.Tensor:
  """Raw uint8 bytes [N] → float32 [N, 28, 28] in [0, 1].

  Every string must be exactly IMAGE_BYTES long; anything else is an InvalidArgumentError naming
  both byte counts. (Reshaping to [-1, 28, 28] alone would turn 3 strings of 1568 bytes into 6
  images, answers no longer lining up with the examples they came from.)
  """
  lengths = tf.strings.length(serialized_images)
  ok = tf.reduce_all(tf.equal(lengths, IMAGE_BYTES))

  def error_message():
    bad = tf.where(tf.not_equal(lengths, IMAGE_BYTES))[0, 0]
    return tf.strings.format(
      f'each image must be exactly {IMAGE_BYTES} bytes ({IMAGE_SIZE}x{IMAGE_SIZE} uint8 '
      'pixels); got {} bytes in example {} of the batch',
      (lengths[bad], bad),
    )

  check = tf.debugging.Assert(ok, [tf.cond(ok, lambda: tf.constant(''), error_message)])
  with tf.control_dependencies([check]):
    pixels = tf.io.decode_raw(serialized_images, tf.uint8)
  pixels = tf.reshape(pixels, [tf.shape(serialized_images)[0], IMAGE_SIZE, IMAGE_SIZE])
  pixels.set_shape(
    serialized_images.shape.concatenate([IMAGE_SIZE, IMAGE_SIZE])
  )  # keep a static batch
  return tf.cast(pixels, tf.float32) / 255.0


def parse_examples(serialized: tf.Tensor):
  """Batch of serialized tf.Examples → (images float32 [N,28,28], labels int64 [N])."""
  features = tf.io.parse_example(serialized, FEATURE_SPEC)
  return decode_images(features[IMAGE_KEY]), features[LABEL_KEY]


def list_files(file_pattern: Union[str, List[str]]) -> List[str]:
  """The TFRecord files a pattern (or list of patterns) names, sorted: the order they are read
  in."""
  files = (
    tf.io.gfile.glob(file_pattern)
    if isinstance(file_pattern, str)
    else [f for pattern in file_pattern for f in tf.io.gfile.glob(pattern)]
  )
  if not files:
    raise FileNotFoundError(f'no TFRecord files match {file_pattern}')
  return sorted(files)


def count_records(file_pattern: Union[str, List[str]]) -> int:
  """How many records the files hold (read, not parsed: about a second for MNIST's 60k)."""
  records = tf.data.TFRecordDataset(list_files(file_pattern), compression_type='GZIP')
  return int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def make_dataset(
  file_pattern: Union[str, List[str]],
  batch_size: int,
  shuffle: bool,
  drop_remainder: bool = False,
  cache: bool = True,
  seed: Optional[int] = None,
  skip: int = 0,
  take: Optional[int] = None,
) -> tf.data.Dataset:
  """Reads, parses, (shuffles,) batches and prefetches examples.

  Records are read in file order (sorted file names, each file front to back), so `skip` and
  `take` cut the same records on every run and every worker: the Trainer's validation split is
  `skip=N - V` of the train split, its training data `take=N - V`.
  drop_remainder=True gives every batch the static shape TPUs need.
  """
  ds = tf.data.TFRecordDataset(list_files(file_pattern), compression_type='GZIP')
  if skip:
    ds = ds.skip(skip)
  if take is not None:
    ds = ds.take(take)
  if cache:
    ds = ds.cache()  # serialized records are small (~1 KB each); parse cost is paid per epoch
  if shuffle:
    ds = ds.shuffle(60000, seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.map(parse_examples, num_parallel_calls=tf.data.AUTOTUNE)
  # Across workers, split by batch, not by file: every worker reads all files and takes its share
  # of each global batch. By file, each worker's `take`/`skip` would cut its own files, not the
  # split, and a split in fewer files than workers could not be shared at all.
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  options.autotune.enabled = AUTOTUNE_ENABLED
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
