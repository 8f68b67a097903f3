"""The seed's CNN (TensorFlow official/mnist), unchanged, in Keras 3."""

import keras

from trainer_module.features import IMAGE_KEY, IMAGE_SIZE, NUM_CLASSES


def build_model(precision: str = 'float32', num_classes: int = NUM_CLASSES) -> keras.Model:
  """Conv(32,5x5) → pool → Conv(64,5x5) → pool → Dense(1024) → Dropout(0.4) → logits(K): one
  logit for each of the data's classes (10 for MNIST).

  precision: a Keras dtype policy, 'float32' (default), 'mixed_bfloat16' or 'mixed_float16'. Under
  a mixed policy every layer but the last computes in 16 bits; the logits layer stays float32, so
  the model's output (and the softmax taken of it) is float32 whatever the policy. The policy is
  given to each layer, not set globally, so nothing else in the process changes.
  """
  policy = precision
  return keras.Sequential(
    [
      keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), name=IMAGE_KEY),
      keras.layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1), dtype=policy),
      keras.layers.Conv2D(32, 5, padding='same', activation='relu', dtype=policy),
      keras.layers.MaxPooling2D(2, 2, padding='same', dtype=policy),
      keras.layers.Conv2D(64, 5, padding='same', activation='relu', dtype=policy),
      keras.layers.MaxPooling2D(2, 2, padding='same', dtype=policy),
      keras.layers.Flatten(dtype=policy),
      keras.layers.Dense(1024, activation='relu', dtype=policy),
      keras.layers.Dropout(0.4, dtype=policy),
      keras.layers.Dense(num_classes, dtype='float32'),  # logits, float32 under every policy
    ],
    name='mnist_cnn',
  )
