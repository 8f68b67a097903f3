"""Training-time augmentation: a small random rotation, zoom and shift of each image, and for
left/right-symmetric classes (clothes, not digits) a mirror image half the time.

Applied to training batches only (in the tf.data pipeline, on the host), never to validation,
evaluation or the exported model: the seed's architecture and its signatures are unchanged. One
ImageProjectiveTransformV3 op per batch (bilinear, zeros filled in: the background of MNIST's
light-on-dark images in [0, 1]) costs under 1 % of a training step here.
"""

import dataclasses
import math
from typing import Optional

import tensorflow as tf

from trainer_module.data import AUTOTUNE_ENABLED
from trainer_module.features import IMAGE_SIZE


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Each image is rotated by up to ±rotation_degrees, scaled by 1 ± zoom and moved up to
  ±shift_pixels in x and in y, each drawn uniformly and independently per image; with flip, half
  the images (drawn per image) are mirrored left to right first. (The bounds are checked where
  they are set: TrainingConfig.)"""

  rotation_degrees: float = 0.0
  zoom: float = 0.0
  shift_pixels: float = 0.0
  flip: bool = False

  @property
  def enabled(self) -> bool:
    return bool(self.rotation_degrees or self.zoom or self.shift_pixels or self.flip)


def affine_transforms(
  uniforms: tf.Tensor, augmentation: Augmentation, mirror: Optional[tf.Tensor] = None
) -> tf.Tensor:
  """[N, 4] uniforms in [-1, 1) (rotation, zoom, shift x, shift y) → [N, 8] projective transforms.

  Each maps an output pixel to the input pixel it is read from (ImageProjectiveTransformV3's
  convention): input = c + F R(-angle) (output - c - shift) / scale, c the image centre, F the
  mirror diag(-1, 1) where `mirror` (an [N] bool) is true, else the identity: the image is
  mirrored first, then rotated, scaled and shifted.
  """
  angle = uniforms[:, 0] * (augmentation.rotation_degrees * math.pi / 180)
  scale = 1 + uniforms[:, 1] * augmentation.zoom
  dx = uniforms[:, 2] * augmentation.shift_pixels
  dy = uniforms[:, 3] * augmentation.shift_pixels
  centre = (IMAGE_SIZE - 1) / 2
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  a0, a1, b0, b1 = cos, sin, -sin, cos
  a2 = centre - a0 * (centre + dx) - a1 * (centre + dy)
  b2 = centre - b0 * (centre + dx) - b1 * (centre + dy)
  if mirror is not None:  # the input's x read from the other side of the centre: x → 2c - x
    sign = tf.where(mirror, -1.0, 1.0)
    a0, a1, a2 = sign * a0, sign * a1, centre + sign * (a2 - centre)
  zeros = tf.zeros_like(angle)
  return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augment_images(images: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
  """float32 [N, 28, 28] → the same, each image moved at random; `seed` an int64 [2] (stateless,
  so the same seed gives the same batch on every run and every tf.data thread)."""
  uniforms = tf.random.stateless_uniform([tf.shape(images)[0], 4], seed, -1.0, 1.0)
  mirror = None
  if augmentation.flip:  # its own stream: the other draws stay those of a run without flips
    flip_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    mirror = tf.random.stateless_uniform([tf.shape(images)[0]], flip_seed) < 0.5
  moved = tf.raw_ops.ImageProjectiveTransformV3(
    images=images[..., tf.newaxis],
    transforms=affine_transforms(uniforms, augmentation, mirror),
    output_shape=[IMAGE_SIZE, IMAGE_SIZE],
    fill_value=0.0,
    interpolation='BILINEAR',
    fill_mode='CONSTANT',
  )
  return tf.reshape(moved, tf.shape(images))


def augment_dataset(ds: tf.data.Dataset, augmentation: Augmentation, seed=None) -> tf.data.Dataset:
  """Batches of (images, labels) → the same with images augmented; new draws every epoch."""
  randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
  options = tf.data.Options()
  options.autotune.enabled = AUTOTUNE_ENABLED  # as the input pipeline's (data.py says why)
  return (
    tf.data.Dataset.zip((ds, randoms))
    .map(
      lambda batch, pair: (augment_images(batch[0], pair, augmentation), batch[1]),
      num_parallel_calls=tf.data.AUTOTUNE,
    )
    .with_options(options)
  )
