"""components/lib/image_folders.py: a folder of pictures as a data set, either layout; the split
by a hash of each path (the same on every run, and adding files moves none of the others); and
every refusal, one line naming the file: a picture that does not decode, a decode bomb, an empty
class folder, a test class that train/ lacks, a non-regular file, a layout that is neither."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from components.lib import datasets, image_folders
from components.lib.idx import MnistDataError
from tests.components.lib.test_pictures import write_png


def _picture(path, value=128, size=(12, 10)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new('L', size, value).save(path)


def _flat(root, classes=('cat', 'dog'), per_class=30):
  for name in classes:
    for i in range(per_class):
      _picture(os.path.join(root, name, f'{i:03d}.png'), value=i)
  return str(root)


def _given(root, train=('cat', 'dog'), test=('cat', 'dog'), per_class=4):
  for split, classes in (('train', train), ('test', test)):
    for name in classes:
      for i in range(per_class):
        _picture(os.path.join(root, split, name, f'{i}.png'))
  return str(root)


def _refusal(folder) -> str:
  with pytest.raises(MnistDataError) as error:
    image_folders.list_dataset(folder)
  assert '\n' not in str(error.value)
  return str(error.value)


def test_train_and_test_folders_are_used_as_given(tmp_path):
  listing = image_folders.list_dataset(_given(tmp_path, train=('b', 'a', 'c'), test=('a', 'c')))
  assert listing.layout == 'train/test' and listing.class_names == ('a', 'b', 'c')  # sorted
  train, test = listing.splits['train'], listing.splits['eval']
  assert len(train) == 12 and len(test) == 8
  assert {e.path.split('/')[0] for e in train} == {'train'}
  assert {(e.path.split('/')[1], e.label) for e in test} == {('a', 0), ('c', 2)}


def test_a_flat_folder_is_split_by_a_hash_of_each_path(tmp_path):
  folder = _flat(tmp_path / 'pets', per_class=300)
  listing = image_folders.list_dataset(folder)
  assert listing.layout == '<class>' and listing.class_names == ('cat', 'dog')
  train, test = listing.splits['train'], listing.splits['eval']
  assert len(train) + len(test) == 600 and 70 <= len(test) <= 130  # 1 in 6: 100 expected
  assert all(image_folders.in_test(e.path) for e in test)
  assert not any(image_folders.in_test(e.path) for e in train)
  # The same on every run; and classes interleaved in a split, not one after the other.
  assert image_folders.list_dataset(folder) == listing
  labels = [e.label for e in train]
  assert labels != sorted(labels) and 0 < sum(labels[: len(labels) // 2]) < len(labels) // 2


def test_adding_files_moves_none_of_the_others(tmp_path):
  folder = _flat(tmp_path / 'pets', per_class=60)
  before = image_folders.list_dataset(folder)
  for i in range(60, 120):
    _picture(os.path.join(folder, 'cat', f'{i:03d}.png'))
  after = image_folders.list_dataset(folder)
  for split in ('train', 'eval'):
    old = {e.path for e in before.splits[split]}
    assert old <= {e.path for e in after.splits[split]}, split


def test_hidden_names_are_ignored(tmp_path):
  folder = _flat(tmp_path / 'pets')
  for path in ('.DS_Store', 'cat/.DS_Store', '.ipynb_checkpoints/x.png'):
    _picture(os.path.join(folder, path)) if path.endswith('.png') else open(
      os.path.join(folder, path), 'w'
    ).close()
  listing = image_folders.list_dataset(folder)
  assert listing.class_names == ('cat', 'dog')
  assert not any('.' in e.path.split('/')[1][:1] for s in listing.splits.values() for e in s)


def test_a_hundred_and_twenty_classes(tmp_path):
  names = [f'class{i:03d}' for i in range(120)]
  listing = image_folders.list_dataset(_given(tmp_path, train=names, test=names[:50], per_class=1))
  assert len(listing.class_names) == 120 and listing.class_names == tuple(names)


def test_class_counts_out_of_bounds_are_refused(tmp_path):
  assert _refusal(_given(tmp_path / 'one', train=('cat',), test=('cat',))).endswith(
    '1 class folder(s) (cat); a data set needs 2 to 1000 classes, a folder of pictures each'
  )
  too_many = [f'c{i}' for i in range(datasets.MAX_CLASSES + 1)]
  for name in too_many:
    os.makedirs(tmp_path / 'many' / name)
  assert '1001 class folder(s) (c0, c1, c10, c100, c1000, …)' in _refusal(str(tmp_path / 'many'))


def test_each_refusal_is_one_line_naming_the_file(tmp_path):
  empty = _given(tmp_path / 'empty')
  os.makedirs(os.path.join(empty, 'train', 'emu'))
  assert _refusal(empty) == f'{empty}/train/emu: an empty class folder (no pictures in it)'

  unknown = _given(tmp_path / 'unknown', test=('cat', 'dog', 'emu'))
  assert _refusal(unknown) == (
    f"{unknown}/test/emu: class 'emu' is not in train/ (each test class needs training pictures)"
  )

  nested = _given(tmp_path / 'nested')
  _picture(os.path.join(nested, 'train', 'cat', 'more', 'x.png'))
  assert _refusal(nested) == (
    f'{nested}/train/cat/more: is a folder, not a picture (a folder of pictures holds files)'
  )

  beside = _flat(tmp_path / 'beside')
  open(os.path.join(beside, 'README.md'), 'w').close()
  assert _refusal(beside) == (
    f'{beside}/README.md: a file beside the class folders (each class is a folder of pictures)'
  )

  half = _given(tmp_path / 'half')
  os.rename(os.path.join(half, 'test'), os.path.join(half, 'val'))
  assert _refusal(half).startswith(f'{half}: has train/ but no test/')

  extra = _given(tmp_path / 'extra')
  os.makedirs(os.path.join(extra, 'val'))
  assert (
    _refusal(extra) == f'{extra}/val: beside train/ and test/ (the folder holds those two only)'
  )

  few = _flat(tmp_path / 'few', per_class=1)  # two pictures: at most one lands in each split
  assert 'add pictures' in _refusal(few)


def test_a_fifo_among_the_pictures_is_refused_without_blocking(tmp_path):
  folder = _given(tmp_path / 'fifo')
  fifo = os.path.join(folder, 'train', 'cat', 'pipe.png')
  os.mkfifo(fifo)
  outcome = []
  worker = threading.Thread(target=lambda: outcome.append(_refusal(folder)), daemon=True)
  worker.start()
  worker.join(timeout=10)
  if worker.is_alive():
    with open(fifo, 'wb'):
      pass
    pytest.fail('blocked on the FIFO')
  assert outcome == [f'{fifo}: is a FIFO, not a regular file']


def _read_all(folder):
  listing = image_folders.list_dataset(folder)
  for split in listing.splits.values():
    for _ in image_folders.read_chunks(folder, split, 7):
      pass


def test_a_picture_that_does_not_decode_is_named(tmp_path):
  folder = _given(tmp_path / 'broken')
  path = os.path.join(folder, 'test', 'dog', '2.png')
  data = open(path, 'rb').read()
  with open(path, 'wb') as f:
    f.write(data[: len(data) // 2])
  with pytest.raises(MnistDataError) as error:
    _read_all(folder)
  assert str(error.value).startswith(f'{path}: cannot read the image (')


def test_a_decode_bomb_is_named_and_never_decoded(tmp_path):
  folder = _given(tmp_path / 'bomb')
  path = os.path.join(folder, 'train', 'dog', 'bomb.png')
  write_png(path, 13300, 13300, rows=1)  # refused from its header: what follows is never read
  with pytest.raises(MnistDataError, match=r'bomb\.png: its header declares 13300x13300 pixels'):
    _read_all(folder)


def test_chunks_hold_the_pictures_in_order_with_their_digests(tmp_path):
  folder = _given(tmp_path / 'ok', per_class=5)
  listing = image_folders.list_dataset(folder)
  parts = list(image_folders.read_chunks(folder, listing.splits['train'], 4))
  assert [len(p.labels) for p in parts] == [4, 4, 2]
  assert [f for p in parts for f in p.files] == [e.path for e in listing.splits['train']]
  assert all(p.images.shape[1:] == (28, 28) and p.images.dtype == np.uint8 for p in parts)
  path, size, sha = parts[0].rows[0]
  assert size == os.path.getsize(os.path.join(folder, path)) and len(sha) == 64


def test_a_folder_of_new_pictures(tmp_path):
  for name in ('b.png', 'a.jpg'):
    _picture(str(tmp_path / 'new' / name))
  listing = image_folders.list_unlabelled(str(tmp_path / 'new'))
  assert [e.path for e in listing.splits['infer']] == ['a.jpg', 'b.png']
  os.makedirs(tmp_path / 'none')
  with pytest.raises(MnistDataError) as error:
    image_folders.list_unlabelled(str(tmp_path / 'none'))
  assert str(error.value) == f'{tmp_path}/none: no pictures in it'
  os.makedirs(tmp_path / 'new' / 'sub')
  with pytest.raises(MnistDataError, match='/new/sub: is a folder, not a picture'):
    image_folders.list_unlabelled(str(tmp_path / 'new'))
