"""The data sets the pipeline takes (--dataset), each fact about one of them in one place.

`mnist` (the default) and `fashion-mnist` are pinned: the SHA-256 of each *decompressed* IDX file
must be the canonical one. `idx` is any 10-class set of 28x28 images in the same four IDX files
(same names, same format checks) with no digest pin. `images` (a folder of pictures, a folder per
class: components/lib/image_folders.py) and `csv` (Kaggle's label,pixel0,…,pixel783 files:
components/lib/csv_files.py) take their classes, 2 to MAX_CLASSES of them, from the data.

No TensorFlow here: the IDX validation and the command line import it.
"""

import dataclasses
from typing import Dict, Optional, Tuple, Union

from trainer_module.config import (
  CLOTHES_TRAINING,
  CSV_TRAINING,
  DIGIT_TRAINING,
  PICTURE_TRAINING,
  TrainingDefaults,
)

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
# How a data set's files are read (Dataset.kind).
IDX_KIND, IMAGES_KIND, CSV_KIND = 'idx', 'images', 'csv'
MIN_CLASSES, MAX_CLASSES = 2, 1000  # for the sets whose classes come from the data


@dataclasses.dataclass(frozen=True)
class IdxFile:
  name: str  # file name on disk / on the mirrors
  magic: int
  count: Optional[int]  # examples in the file; None where not pinned
  sha256: Optional[str]  # of the *decompressed* bytes; None: any content passing the format checks


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str  # the --dataset value
  title: str  # for messages: 'MNIST', 'Fashion-MNIST'
  files: Dict[str, Tuple[IdxFile, IdxFile]]  # 'train' / 't10k' -> (images, labels)
  class_names: Tuple[str, ...]  # label i is class_names[i]; () for classes read from the data
  default_accuracy_threshold: float  # the Evaluator's default bound for this set
  training_defaults: TrainingDefaults = DIGIT_TRAINING  # epochs and augmentation for this set
  mirrors: Tuple[str, ...] = ()  # base URLs holding the four .gz files; () = no download
  env_var: Optional[str] = None  # names a local folder holding the files
  mirrors_env_var: Optional[str] = None  # comma-separated base URLs replacing `mirrors`
  system_dirs: Tuple[str, ...] = ()  # looked at after --data-dir and env_var, before a download
  # The served model inverts dark-on-light images (trainer_module/export.normalize_polarity): right
  # for digits, which users draw either way, wrong for sets whose bright images are meant bright
  # (5.5 % of Fashion-MNIST's test images have a mean pixel above 0.5).
  normalize_polarity: bool = False
  kind: str = IDX_KIND  # IDX_KIND: the four IDX files; IMAGES_KIND, CSV_KIND: see the docstring
  holds: str = 'a folder holding the four IDX .gz files'  # for messages: what --data-dir names

  @property
  def pinned(self) -> bool:
    return bool(self.all_files) and all(f.sha256 for f in self.all_files)

  @property
  def classes_from_data(self) -> bool:
    """Whether the classes are the data's own (read by the ExampleGen), not this record's."""
    return self.kind != IDX_KIND

  @property
  def all_files(self) -> Tuple[IdxFile, ...]:
    return tuple(f for pair in self.files.values() for f in pair)

  @property
  def cache_name(self) -> str:
    """Sub-folder of the download cache (MNIST keeps the top level, as before)."""
    return '' if self.name == 'mnist' else self.name


def _files(
  counts: Tuple[Optional[int], Optional[int]], digests: Optional[Dict[str, str]] = None
) -> Dict[str, Tuple[IdxFile, IdxFile]]:
  digests = digests or {}

  def one(name, magic, count):
    return IdxFile(name, magic, count, digests.get(name))

  return {
    'train': (
      one('train-images-idx3-ubyte.gz', IMAGE_MAGIC, counts[0]),
      one('train-labels-idx1-ubyte.gz', LABEL_MAGIC, counts[0]),
    ),
    't10k': (
      one('t10k-images-idx3-ubyte.gz', IMAGE_MAGIC, counts[1]),
      one('t10k-labels-idx1-ubyte.gz', LABEL_MAGIC, counts[1]),
    ),
  }


DIGITS = tuple(str(i) for i in range(10))

MNIST = Dataset(
  name='mnist',
  title='MNIST',
  files=_files(
    (60000, 10000),
    {
      'train-images-idx3-ubyte.gz': (
        'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db'
      ),
      'train-labels-idx1-ubyte.gz': (
        '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5'
      ),
      't10k-images-idx3-ubyte.gz': (
        '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7'
      ),
      't10k-labels-idx1-ubyte.gz': (
        'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2'
      ),
    },
  ),
  class_names=DIGITS,
  default_accuracy_threshold=0.99,
  normalize_polarity=True,
  # The seed fetched from the CVDF mirror; the second is PyTorch's mirror of the same files.
  mirrors=(
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
  ),
  env_var='MNIST_DATA_DIR',
  mirrors_env_var='MNIST_MIRRORS',
)

# Zalando's Fashion-MNIST (github.com/zalandoresearch/fashion-mnist), MNIST's drop-in replacement:
# same file names, sizes and format. Digests of the decompressed files, as Debian's
# dataset-fashion-mnist package ships them (/usr/share/datasets/fashion-mnist).
FASHION_MNIST = Dataset(
  name='fashion-mnist',
  title='Fashion-MNIST',
  files=_files(
    (60000, 10000),
    {
      'train-images-idx3-ubyte.gz': (
        'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888'
      ),
      'train-labels-idx1-ubyte.gz': (
        'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9'
      ),
      't10k-images-idx3-ubyte.gz': (
        '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b'
      ),
      't10k-labels-idx1-ubyte.gz': (
        '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34'
      ),
    },
  ),
  class_names=(
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ),
  # The seed CNN reaches about 0.87 on Fashion-MNIST after one epoch, 0.93 after 18 (0.99 is
  # MNIST's).
  default_accuracy_threshold=0.85,
  training_defaults=CLOTHES_TRAINING,  # mirrored, not moved (trainer_module/config.py)
  # Keras' copy (tf.keras.datasets.fashion_mnist), then the project's own S3 website.
  mirrors=(
    'https://storage.googleapis.com/tensorflow/tf-keras-datasets/',
    'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
  ),
  env_var='FASHION_MNIST_DATA_DIR',
  mirrors_env_var='FASHION_MNIST_MIRRORS',
  system_dirs=('/usr/share/datasets/fashion-mnist',),
)

# Any 10-class set of 28x28 images in MNIST's four IDX files: the format checks, no digest pin,
# no download (--data-dir names the folder).
IDX = Dataset(
  name='idx',
  title='IDX',
  files=_files((None, None)),
  class_names=DIGITS,
  default_accuracy_threshold=0.9,
)

# A folder of pictures, a folder per class (Keras' image_dataset_from_directory and torchvision's
# ImageFolder layout): train/<class>/* and test/<class>/*, or <class>/* split by a hash of each
# path. Any size, gray or colour, turned into the CNN's 28x28 input by components/lib/pictures.py.
IMAGES = Dataset(
  name='images',
  title='images',
  files={},
  class_names=(),
  default_accuracy_threshold=0.9,
  training_defaults=PICTURE_TRAINING,
  kind=IMAGES_KIND,
  holds='a folder of pictures, a folder per class (train/<class>/ and test/<class>/, or <class>/)',
)

# Kaggle's digit-recognizer and Fashion-MNIST CSV layout: train.csv and test.csv, a header
# label,pixel0,...,pixel783, then one 28x28 image a row (0-255, row-major); classes.txt names the
# labels 0..K-1.
CSV = Dataset(
  name='csv',
  title='CSV',
  files={},
  class_names=(),
  default_accuracy_threshold=0.9,
  training_defaults=CSV_TRAINING,
  kind=CSV_KIND,
  holds='a folder holding train.csv and test.csv (and optionally classes.txt)',
)

DATASETS: Dict[str, Dataset] = {d.name: d for d in (MNIST, FASHION_MNIST, IDX, IMAGES, CSV)}
DEFAULT = MNIST.name


def get(name: Union[str, 'Dataset', None]) -> Dataset:
  """The data set called `name` (None: MNIST); ValueError naming the choices otherwise."""
  if name is None:
    return MNIST
  if isinstance(name, Dataset):
    return name
  try:
    return DATASETS[name]
  except KeyError:
    raise ValueError(f'unknown dataset {name!r}; expected one of {", ".join(DATASETS)}') from None


def check_infer_dir(infer_dir: Optional[str], dataset: Union[str, Dataset, None]) -> None:
  """--infer-dir prepares new pictures as --dataset images prepares its own (components/lib/
  pictures.py), which a model trained on MNIST-style IDX files never saw: refused with those."""
  spec = get(dataset)
  if infer_dir is not None and not spec.classes_from_data:
    raise ValueError(
      f'--infer-dir needs --dataset images or csv (a model of --dataset {spec.name} was trained '
      'on MNIST-style images: label pictures with `mnist-tfx predict`, which prepares them so)'
    )
