"""components/lib/csv_files.py: Kaggle's CSV layout read as a stream a chunk at a time, the
classes from classes.txt or the labels, and every refusal one line naming the file and the line;
any bytes give rows or one MnistDataError line (hypothesis)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.lib import csv_files
from components.lib.idx import MnistDataError

HEADER = csv_files.HEADER


def _rows(labels, pixel=7):
  return [','.join([str(label)] + [str(pixel)] * 784) for label in labels]


def _write(folder, name, lines, end='\n'):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), 'w', newline='') as f:
    f.write(end.join(lines) + end)


def _read(folder, split='train', classes=None, chunk=3, limit=None):
  parts = list(csv_files.read_rows(str(folder), split, chunk, classes, limit))
  if not parts:
    return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.int64)
  return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _refusal(folder, split='train', classes=None) -> str:
  with pytest.raises(MnistDataError) as error:
    _read(folder, split, classes)
  assert '\n' not in str(error.value)
  return str(error.value)


def test_rows_are_read_a_chunk_at_a_time(tmp_path):
  pixels = ','.join(str(i % 256) for i in range(784))
  _write(tmp_path, 'train.csv', [HEADER] + [f'{i % 3},{pixels}' for i in range(8)], end='\r\n')
  parts = list(csv_files.read_rows(str(tmp_path), 'train', 3, None))
  assert [len(p[1]) for p in parts] == [3, 3, 2]
  images, labels = _read(tmp_path)
  assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1] and images.dtype == np.uint8
  assert images[0].reshape(-1).tolist() == [i % 256 for i in range(784)]  # row-major 28x28
  assert _read(tmp_path, limit=5)[1].tolist() == [0, 1, 2, 0, 1]


def test_class_names_from_classes_txt_or_the_labels(tmp_path):
  assert csv_files.read_class_names(str(tmp_path)) is None
  counts = np.bincount([0, 1, 2, 2], minlength=1000)
  assert csv_files.class_names_for(counts, None) == ('0', '1', '2')
  with open(tmp_path / 'classes.txt', 'w') as f:
    f.write('\ufeffcat\r\ndog\nemu\n\n')
  given_names = csv_files.read_class_names(str(tmp_path))
  assert given_names == ('cat', 'dog', 'emu')
  assert csv_files.class_names_for(counts, given_names) == given_names
  with pytest.raises(MnistDataError, match=r"train.csv: no row has label 1 \('dog'\)"):
    csv_files.class_names_for(np.bincount([0, 2], minlength=1000), given_names)
  with pytest.raises(MnistDataError, match='train.csv: 1 class'):
    csv_files.class_names_for(np.bincount([0, 0], minlength=1000), None)


@pytest.mark.parametrize(
  'text, message',
  [
    ('cat\ncat\n', "classes.txt: line 2: 'cat' is named twice"),
    ('cat\n\ndog\n', 'classes.txt: line 2 is empty (one class name a line)'),
    ('cat\n', 'classes.txt: 1 class name(s); a data set needs 2 to 1000 classes'),
  ],
)
def test_a_bad_classes_txt_is_one_line(tmp_path, text, message):
  (tmp_path / 'classes.txt').write_text(text)
  with pytest.raises(MnistDataError) as error:
    csv_files.read_class_names(str(tmp_path))
  assert str(error.value) == message


def test_each_bad_row_is_one_line_naming_the_file_and_line(tmp_path):
  good = _rows([0, 1])
  cases = {
    'header': (['label,p0'] + good, 'train.csv: line 1 is not the header label,pixel0,'),
    'fields': ([HEADER, good[0], '1,2,3'], 'train.csv: line 3: 3 fields, expected 785'),
    'float': ([HEADER, good[0].replace('7', '7.5', 1)], "line 2: pixel0 is '7.5', expected a"),
    'range': ([HEADER, good[0], good[1].replace(',7', ',300', 1)], 'line 3: pixel0 is 300, a pix'),
    'label': ([HEADER, good[0].replace('0', '-1', 1)], 'line 2: the label is -1, a label is 0-999'),
    'empty line': ([HEADER, good[0], '', good[1]], 'train.csv: line 3: an empty line'),
    'no rows': ([HEADER], 'train.csv: no rows after the header'),
  }
  for case, (lines, message) in cases.items():
    folder = tmp_path / case.replace(' ', '-')
    _write(folder, 'train.csv', lines)
    assert message in _refusal(folder), case
  os.makedirs(tmp_path / 'none')
  assert _refusal(tmp_path / 'none') == f'train.csv: missing from {tmp_path}/none'
  (tmp_path / 'blank').mkdir()
  (tmp_path / 'blank' / 'train.csv').write_bytes(b'')
  assert _refusal(tmp_path / 'blank').startswith('train.csv: empty')


def test_a_test_label_beyond_the_classes_is_refused(tmp_path):
  _write(tmp_path, 'test.csv', [HEADER] + _rows([0, 1, 3]))
  assert _refusal(tmp_path, 'eval', classes=3) == 'test.csv: line 4: the label is 3, a label is 0-2'


def test_a_line_longer_than_any_row_is_refused_as_it_is_read(tmp_path):
  """A file without line ends is never held whole: the line is refused past MAX_LINE bytes."""
  (tmp_path / 'train.csv').write_bytes((HEADER + '\n').encode() + b'1' * (20 * 2**20))
  assert _refusal(tmp_path) == f'train.csv: line 2 is longer than {csv_files.MAX_LINE} bytes'


def test_a_fifo_is_refused(tmp_path):
  os.mkfifo(tmp_path / 'train.csv')
  assert _refusal(tmp_path) == 'train.csv: cannot be read (is a FIFO, not a regular file)'


@settings(
  max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600), cut=st.integers(0, 4000), flip=st.integers(0, 4000))
def test_any_bytes_give_rows_or_one_line(tmp_path, data, cut, flip):
  valid = bytearray(('\n'.join([HEADER] + _rows([0, 1, 2])) + '\n').encode())
  valid[flip % len(valid)] = (valid[flip % len(valid)] + 1) % 256
  for candidate in (data, (HEADER + '\n').encode() + data, bytes(valid[:cut] or valid)):
    (tmp_path / 'train.csv').write_bytes(candidate)
    try:
      images, labels = _read(tmp_path)
    except MnistDataError as e:
      assert str(e).startswith('train.csv: ') and '\n' not in str(e)
    else:
      assert images.shape == (len(labels), 28, 28) and labels.min() >= 0
