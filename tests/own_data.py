"""Real data that is not MNIST's IDX files, written as users bring theirs (docs/how-to/
own-data.md's commands run on these):

- scikit-learn's bundled 8×8 handwritten digits (sklearn.datasets.load_digits, no download) as
  gray PNG class folders named by word (`train/<class>/` and `test/<class>/`);
- a few classes of Fashion-MNIST (Debian's dataset-fashion-mnist) as colour JPEGs larger than
  28×28, in a flat `<class>/` layout, and a flat folder of new ones to label;
- MNIST's test set written as Kaggle-layout CSVs (train.csv, test.csv).
"""

import hashlib
import os
from typing import Dict, Tuple

import numpy as np
from PIL import Image

from components.lib import datasets, download, idx

DIGIT_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
# Fashion-MNIST label -> the folder name used here.
CLOTHES = {1: 'trouser', 7: 'sneaker', 8: 'bag'}
JPEG_SIZE = (64, 48)  # width, height: larger than 28x28, and not square


def sklearn_digits(root: str, test_every: int = 5) -> Dict[str, int]:
  """scikit-learn's 1,797 digits as PNGs: train/<word>/NNNN.png, every `test_every`-th one in
  test/<word>/ instead. The 0-16 levels are scaled to 0-255. Returns split -> count."""
  from sklearn.datasets import load_digits  # deferred: scikit-learn takes a second to import

  digits = load_digits()
  counts = {'train': 0, 'test': 0}
  for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
    split = 'test' if i % test_every == 0 else 'train'
    folder = os.path.join(root, split, DIGIT_WORDS[label])
    os.makedirs(folder, exist_ok=True)
    pixels = np.clip(np.round(image * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels, mode='L').save(os.path.join(folder, f'{i:04d}.png'))
    counts[split] += 1
  return counts


def fashion_split(prefix: str) -> Tuple[np.ndarray, np.ndarray]:
  data = download.resolve_data_dir(None, env={}, dataset=datasets.FASHION_MNIST, mirrors=())
  split = idx.load_split(data, prefix, validated=True, dataset=datasets.FASHION_MNIST)
  return split.images, split.labels


def colour_jpeg(image: np.ndarray, path: str, tint=(1.0, 0.7, 0.4)) -> None:
  """A 28×28 Fashion-MNIST item as a colour photo: dark item on a light backdrop, tinted, scaled
  up to JPEG_SIZE."""
  item = 255.0 - image.astype(np.float32)
  rgb = np.stack([item * t + (1 - t) * 255.0 * 0.9 for t in tint], axis=-1)
  picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode='RGB')
  picture.resize(JPEG_SIZE, Image.Resampling.BICUBIC).save(path, format='JPEG', quality=90)


def fashion_jpegs(root: str, per_class: int, prefix: str = 'train', start: int = 0) -> int:
  """`per_class` items of each of CLOTHES from Fashion-MNIST's `prefix` split (from the
  `start`-th of each class on) as colour JPEGs in <class>/; returns how many."""
  images, labels = fashion_split(prefix)
  written = 0
  for label, name in CLOTHES.items():
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for n, i in enumerate(np.flatnonzero(labels == label)[start : start + per_class]):
      colour_jpeg(images[i], os.path.join(folder, f'{name}-{n:04d}.jpg'))
      written += 1
  return written


def new_fashion_jpegs(folder: str, per_class: int) -> Dict[str, str]:
  """Items of the test split of CLOTHES as a flat folder of JPEGs to label: file -> true class."""
  images, labels = fashion_split('t10k')
  os.makedirs(folder, exist_ok=True)
  truth = {}
  for label, name in CLOTHES.items():
    for n, i in enumerate(np.flatnonzero(labels == label)[:per_class]):
      file = f'new-{label}{n:03d}.jpg'
      colour_jpeg(images[i], os.path.join(folder, file), tint=(0.5, 0.8, 1.0))
      truth[file] = name
  return truth


def mnist_csv(folder: str, mnist_dir: str, train: int = 8000) -> Tuple[int, int]:
  """MNIST's 10,000 test images as Kaggle-layout CSVs: the first `train` in train.csv, the rest
  in test.csv. Returns the two counts."""
  split = idx.load_split(mnist_dir, 't10k', validated=True)
  os.makedirs(folder, exist_ok=True)
  header = ','.join(['label'] + [f'pixel{i}' for i in range(784)])
  rows = np.concatenate([split.labels[:, None], split.images.reshape(-1, 784)], axis=1)
  for name, part in (('train.csv', rows[:train]), ('test.csv', rows[train:])):
    np.savetxt(
      os.path.join(folder, name), part, fmt='%d', delimiter=',', header=header, comments=''
    )
  return train, len(rows) - train


def truncate_one(root: str) -> str:
  """Cuts the first picture (in name order) of a folder tree to half its bytes; returns its path."""
  path = min(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)
  with open(path, 'rb') as source:
    data = source.read()
  with open(path, 'wb') as target:
    target.write(data[: len(data) // 2])
  return path


def sha256_text(text: str) -> str:
  return hashlib.sha256(text.encode('utf-8')).hexdigest()


def sha256_file(path) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()
