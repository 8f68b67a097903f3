"""The seed's CNN (TensorFlow official/mnist), unchanged, in Keras 3."""
import keras

from trainer_module.features import IMAGE_KEY, IMAGE_SIZE, NUM_CLASSES


def build_model() -> keras.Model:
  """Conv(32,5x5) → pool → Conv(64,5x5) → pool → Dense(1024) → Dropout(0.4) → logits(10)."""
  return keras.Sequential([
      keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), name=IMAGE_KEY),
      keras.layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1)),
      keras.layers.Conv2D(32, 5, padding='same', activation='relu'),
      keras.layers.MaxPooling2D(2, 2, padding='same'),
      keras.layers.Conv2D(64, 5, padding='same', activation='relu'),
      keras.layers.MaxPooling2D(2, 2, padding='same'),
      keras.layers.Flatten(),
      keras.layers.Dense(1024, activation='relu'),
      keras.layers.Dropout(0.4),
      keras.layers.Dense(NUM_CLASSES),  # logits
  ], name='mnist_cnn')
