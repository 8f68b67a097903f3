"""quality: the report's numbers from plain arrays."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from inspection import quality


def _one_hot(predicted, confidence):
  probabilities = np.full((len(predicted), 10), 0.0)
  for row, (p, c) in enumerate(zip(predicted, confidence, strict=True)):
    probabilities[row] = (1 - c) / 9
    probabilities[row, p] = c
  return probabilities


def test_confusion_matrix_per_class_accuracy_and_mistakes():
  labels = np.array([0, 0, 1, 1, 2, 7])
  predicted = [0, 1, 1, 1, 7, 2]
  confidence = [0.9, 0.6, 0.8, 0.7, 0.95, 0.5]
  images = np.arange(6 * 28 * 28, dtype=np.uint8).reshape(6, 28, 28)
  result = quality.model_quality(images, labels, _one_hot(predicted, confidence))
  confusion = np.array(result['confusion_matrix'])
  assert confusion.shape == (10, 10) and confusion.sum() == 6
  assert confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[1, 1] == 2
  assert confusion[2, 7] == 1 and confusion[7, 2] == 1
  assert result['eval_accuracy'] == pytest.approx(3 / 6)
  per_class = result['per_class_accuracy']
  assert per_class[:3] == [0.5, 1.0, 0.0] and per_class[7] == 0.0
  assert per_class[3] is None  # no example of 3: unknown, not 0
  # Most confident first; each names the true label, the answer and its probability.
  assert [(m['index'], m['label'], m['predicted']) for m in result['mistakes']] == [
    (4, 2, 7),
    (1, 0, 1),
    (5, 7, 2),
  ]
  assert [m['probability'] for m in result['mistakes']] == pytest.approx([0.95, 0.6, 0.5])
  picture = Image.open(io.BytesIO(base64.b64decode(result['mistakes'][0]['png'])))
  assert picture.size == (84, 84)
  assert np.array(picture)[0, 0] == images[4][0, 0]  # the right image, enlarged 3×


def test_mistakes_shown_are_capped_and_a_perfect_model_has_none():
  labels = np.zeros(50, np.int64)
  images = np.zeros((50, 28, 28), np.uint8)
  wrong = quality.model_quality(
    images, labels, _one_hot([1] * 50, np.linspace(0.5, 0.99, 50)), mistakes_shown=5
  )
  assert len(wrong['mistakes']) == 5 and wrong['mistakes'][0]['index'] == 49
  right = quality.model_quality(images, labels, _one_hot([0] * 50, [0.9] * 50))
  assert right['mistakes'] == [] and right['eval_accuracy'] == 1.0


def test_label_histogram_has_every_class():
  assert quality.label_histogram(np.array([3, 3, 9])) == [0, 0, 0, 2, 0, 0, 0, 0, 0, 1]
  assert quality.label_histogram(np.array([], np.int64)) == [0] * 10


def test_three_classes_give_a_three_by_three_matrix():
  labels = np.array([0, 1, 2, 2])
  probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
  images = np.zeros((4, 28, 28), np.uint8)
  result = quality.model_quality(images, labels, probabilities)
  assert result['confusion_matrix'] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
  assert result['per_class_accuracy'] == [1.0, 1.0, 0.5]
  assert quality.label_histogram(labels, 3) == [1, 1, 2]
  assert quality.per_class_accuracy(labels, probabilities.argmax(1), 4) == [1.0, 1.0, 0.5, None]
