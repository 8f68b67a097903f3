"""Training-time augmentation: the transforms do what they say, and only training data sees them."""

import numpy as np
import pytest
import tensorflow as tf

from trainer_module import augment
from trainer_module.augment import Augmentation


def _bar():
  image = np.zeros((28, 28), np.float32)
  image[10:18, 12:14] = 1.0  # 8 rows tall, 2 columns wide
  return image


def _transform(image, uniforms, augmentation):
  transforms = augment.affine_transforms(tf.constant([uniforms], tf.float32), augmentation)
  return tf.raw_ops.ImageProjectiveTransformV3(
    images=image[np.newaxis, :, :, np.newaxis],
    transforms=transforms,
    output_shape=[28, 28],
    fill_value=0.0,
    interpolation='BILINEAR',
    fill_mode='CONSTANT',
  )[0, :, :, 0].numpy()


def _box(image):
  rows, cols = np.nonzero(image > 0.5)
  return rows.min(), rows.max(), cols.min(), cols.max()


def test_shift_moves_the_image_by_whole_pixels():
  moved = _transform(_bar(), [0, 0, 1, -1], Augmentation(shift_pixels=2))  # x +2, y -2
  assert _box(moved) == (8, 15, 14, 15)
  np.testing.assert_allclose(moved.sum(), _bar().sum())


def test_rotation_turns_about_the_centre():
  turned = _transform(_bar(), [1, 0, 0, 0], Augmentation(rotation_degrees=90))
  assert _box(turned) == (12, 13, 10, 17)  # now 2 rows tall, 8 columns wide, same centre


def test_zoom_scales_about_the_centre():
  image = np.zeros((28, 28), np.float32)
  image[9:19, 9:19] = 1.0  # 10x10 square centred at 13.5
  bigger = _transform(image, [0, 1, 0, 0], Augmentation(zoom=0.2))  # scale 1.2
  rows, cols = np.nonzero(bigger > 0.5)
  assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (12, 12)
  assert (rows.min() + rows.max()) / 2 == pytest.approx(13.5)


def test_zero_draws_leave_the_image_unchanged():
  image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
  same = _transform(image, [0, 0, 0, 0], Augmentation(10, 0.1, 2))
  np.testing.assert_allclose(same, image, atol=1e-6)


def _batches(seed, epochs=2):
  images = np.random.default_rng(1).random((256, 28, 28), dtype=np.float32)
  labels = np.arange(256) % 10
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(128)
  augmented = augment.augment_dataset(ds, Augmentation(10, 0.1, 2), seed=seed)
  return images, labels, [[(x.numpy(), y.numpy()) for x, y in augmented] for _ in range(epochs)]


def test_dataset_draws_anew_each_epoch_and_repeats_with_its_seed():
  images, labels, (first, second) = _batches(seed=5)
  _, _, (again, _) = _batches(seed=5)
  assert first[0][0].shape == (128, 28, 28) and first[0][0].dtype == np.float32
  np.testing.assert_array_equal(np.concatenate([y for _, y in first]), labels)  # labels untouched
  assert not np.allclose(first[0][0], images[:128])  # moved
  assert not np.allclose(first[0][0], second[0][0])  # a new draw next epoch
  np.testing.assert_array_equal(first[0][0], again[0][0])  # the same seed, the same run
  assert 0.0 <= first[0][0].min() and first[0][0].max() <= 1.0 + 1e-6
  per_image = [
    not np.allclose(a, b) for a, b in zip(first[0][0][:-1], first[0][0][1:], strict=True)
  ]
  assert all(per_image)  # each image its own draw


def test_disabled_when_every_bound_is_zero():
  assert not Augmentation().enabled
  assert Augmentation(shift_pixels=1).enabled


def test_mirror_reads_each_row_backwards():
  image = np.random.default_rng(2).random((28, 28), dtype=np.float32)
  transforms = augment.affine_transforms(
    tf.zeros([2, 4]), Augmentation(flip=True), mirror=tf.constant([True, False])
  )
  both = tf.raw_ops.ImageProjectiveTransformV3(
    images=np.stack([image, image])[..., np.newaxis],
    transforms=transforms,
    output_shape=[28, 28],
    fill_value=0.0,
    interpolation='BILINEAR',
    fill_mode='CONSTANT',
  )[..., 0].numpy()
  np.testing.assert_allclose(both[0], image[:, ::-1], atol=1e-6)  # mirrored: exactly, no blur
  np.testing.assert_allclose(both[1], image, atol=1e-6)


def test_mirror_comes_before_the_shift():
  moved = _transform(_bar(), [0, 0, 1, 0], Augmentation(shift_pixels=2))  # x +2
  transforms = augment.affine_transforms(
    tf.constant([[0, 0, 1, 0]], tf.float32),
    Augmentation(shift_pixels=2, flip=True),
    mirror=tf.constant([True]),
  )
  both = tf.raw_ops.ImageProjectiveTransformV3(
    images=_bar()[np.newaxis, :, :, np.newaxis],
    transforms=transforms,
    output_shape=[28, 28],
    fill_value=0.0,
    interpolation='BILINEAR',
    fill_mode='CONSTANT',
  )[0, :, :, 0].numpy()
  # The bar (columns 12-13) mirrored is at columns 14-15, then 2 px right: 16-17.
  assert _box(moved) == (10, 17, 14, 15) and _box(both) == (10, 17, 16, 17)


def _flipped(seed, flip=True):
  images = np.random.default_rng(3).random((256, 28, 28), dtype=np.float32)
  labels = np.arange(256) % 10
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(128)
  out = list(augment.augment_dataset(ds, Augmentation(flip=flip), seed=seed))
  return (
    images,
    labels,
    np.concatenate([x.numpy() for x, _ in out]),
    np.concatenate([y.numpy() for _, y in out]),
  )


def test_flip_mirrors_about_half_the_images_and_keeps_their_labels():
  images, labels, out, out_labels = _flipped(seed=7)
  np.testing.assert_array_equal(out_labels, labels)
  mirrored = [np.allclose(o, i[:, ::-1], atol=1e-6) for o, i in zip(out, images, strict=True)]
  same = [np.allclose(o, i, atol=1e-6) for o, i in zip(out, images, strict=True)]
  # each image one or the other, nothing else
  assert all(m != s for m, s in zip(mirrored, same, strict=True))
  assert 100 <= sum(mirrored) <= 156  # half of 256, give or take 3.5 standard deviations
  np.testing.assert_array_equal(_flipped(seed=7)[2], out)  # the same seed, the same flips


def test_flip_off_is_the_identity_and_leaves_the_other_draws_alone():
  assert Augmentation(flip=True).enabled and not Augmentation(flip=False).enabled
  images = np.random.default_rng(4).random((16, 28, 28), dtype=np.float32)
  seed = tf.constant([5, 6], tf.int64)
  np.testing.assert_allclose(
    augment.augment_images(tf.constant(images), seed, Augmentation()).numpy(), images, atol=1e-6
  )
  # Rotations, zooms and shifts draw the same numbers with or without flips (MNIST's seeded runs
  # keep their draws): the images a flipped run did not mirror match the unflipped run's.
  plain = augment.augment_images(tf.constant(images), seed, Augmentation(10, 0.1, 2)).numpy()
  flipped = augment.augment_images(
    tf.constant(images), seed, Augmentation(10, 0.1, 2, flip=True)
  ).numpy()
  kept = [np.allclose(a, b, atol=1e-5) for a, b in zip(plain, flipped, strict=True)]
  assert 0 < sum(kept) < len(kept)
