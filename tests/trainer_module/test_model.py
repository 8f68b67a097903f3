"""The seed CNN, layer for layer."""

import keras

from trainer_module.model import build_model


def test_seed_architecture_and_parameter_count():
  model = build_model()
  assert model.count_params() == 3_274_634
  kinds = [type(layer).__name__ for layer in model.layers]
  assert kinds == [
    'Reshape',
    'Conv2D',
    'MaxPooling2D',
    'Conv2D',
    'MaxPooling2D',
    'Flatten',
    'Dense',
    'Dropout',
    'Dense',
  ]
  conv1, conv2 = model.layers[1], model.layers[3]
  assert (conv1.filters, conv1.kernel_size, conv1.padding) == (32, (5, 5), 'same')
  assert (conv2.filters, conv2.kernel_size, conv2.padding) == (64, (5, 5), 'same')
  assert conv1.activation is keras.activations.relu
  assert model.layers[6].units == 1024 and model.layers[7].rate == 0.4
  assert model.layers[8].units == 10 and model.layers[8].activation is keras.activations.linear
  assert model.output_shape == (None, 10)


def test_one_logit_for_each_class_of_the_data():
  model = build_model(num_classes=3)
  assert model.output_shape == (None, 3) and model.layers[8].units == 3
  assert build_model(num_classes=120).count_params() == 3_274_634 + (120 - 10) * 1025
