"""What the report shows about the data and the model, computed from plain arrays (no ML
Metadata, no files, no TensorFlow): label histograms, the confusion matrix, per-class accuracy,
the most confident mistakes. K classes: the model's probabilities are [N, K] (10 for MNIST)."""

import base64
import io
from typing import Any, Dict, List, Optional

import numpy as np
from PIL import Image

from trainer_module.features import IMAGE_SIZE, NUM_CLASSES

MISTAKES_SHOWN = 24


def label_histogram(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> List[int]:
  return np.bincount(np.asarray(labels, np.int64), minlength=num_classes).tolist()


def per_class_accuracy(
  labels: np.ndarray, predicted: np.ndarray, num_classes: int = NUM_CLASSES
) -> List[Optional[float]]:
  """Accuracy on each class's examples (None for a class with none)."""
  labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
  return [
    float(np.mean(predicted[labels == c] == c)) if np.any(labels == c) else None
    for c in range(num_classes)
  ]


def png(image: np.ndarray, scale: int = 3) -> str:
  """A uint8 28×28 image as base64 PNG, enlarged with crisp pixels."""
  buffer = io.BytesIO()
  Image.fromarray(image).resize((IMAGE_SIZE * scale, IMAGE_SIZE * scale), Image.NEAREST).save(
    buffer, 'PNG'
  )
  return base64.b64encode(buffer.getvalue()).decode()


def model_quality(
  images: np.ndarray,
  labels: np.ndarray,
  probabilities: np.ndarray,
  mistakes_shown: int = MISTAKES_SHOWN,
) -> Dict[str, Any]:
  """The model's answers (probabilities, one row per image) against the true labels."""
  labels = np.asarray(labels, np.int64)
  predicted = probabilities.argmax(axis=1)
  classes = probabilities.shape[1]
  confusion = np.zeros((classes, classes), np.int64)
  np.add.at(confusion, (labels, predicted), 1)
  with np.errstate(invalid='ignore'):
    per_class = np.diag(confusion) / confusion.sum(axis=1)
  wrong = np.flatnonzero(predicted != labels)
  confidence = probabilities[wrong, predicted[wrong]]
  order = wrong[np.argsort(-confidence, kind='stable')][:mistakes_shown]
  return {
    'confusion_matrix': confusion.tolist(),  # rows: true label, columns: predicted
    'eval_accuracy': float(np.trace(confusion) / confusion.sum()),
    'per_class_accuracy': [None if np.isnan(x) else float(x) for x in per_class],
    'mistakes': [
      {
        'index': int(i),
        'label': int(labels[i]),
        'predicted': int(predicted[i]),
        'probability': float(probabilities[i, predicted[i]]),
        'png': png(images[i]),
      }
      for i in order
    ],
  }
