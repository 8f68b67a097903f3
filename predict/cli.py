"""python -m predict: the digit in each picture, from a pushed model's `classify` signature.

  python -m predict [--model VERSION_DIR|SERVING_DIR|VERSION] [--json] IMAGE [IMAGE ...]

IMAGE: a PNG, JPEG (or other picture Pillow reads) of one digit, any size, either polarity, gray
or colour, prepared as MNIST's digits were (predict/pictures.py); or an .npy array [28, 28] or
[N, 28, 28] in [0, 1] (uint8 0-255 is scaled), one answer per image.

--model: a version dir (it has saved_model.pb); a serving dir (its newest version, as TF
Serving picks); or a version number under <output-dir>/serving. Default: the newest version in
<output-dir>/serving (--output-dir, default ./tfx_output).

One line per image (`example5.png: 5 (p=0.998)`; with the class name where the model was trained
on a data set whose classes are not the digits: `shoe.npy[0]: 9 Ankle boot (p=0.870)`), or --json.
The class names come from the model's lineage in the output dir's ML Metadata store (the Examples
it was trained on name their data set's classes); a model found nowhere there gets the pictures. Exit codes: 0 every input answered;
1 an input could not be read or was refused by the model (one line each; the others are still
answered), or no model; 2 a bad command line.
"""
import argparse
import json
import os
import sys
from typing import List, Optional, Tuple

from pipeline import console
from pipeline.config import DEFAULT_OUTPUT_DIR, LocalPaths, add_demo_argument, output_dir_of

console.silence_native_logs(verbose=False)  # before TensorFlow is imported

EXIT_FAILED = 1
EXIT_USAGE = 2
SAVED_MODEL = 'saved_model.pb'
SIGNATURE = 'classify'  # trainer_module.export.CLASSIFY_SIGNATURE, without importing TensorFlow


class ModelError(Exception):
  """No usable model; the message is one line."""


class StoreUnreachable(ModelError):
  """The object store behind a remote --model does not answer (so it cannot refuse either)."""


# --- which model --------------------------------------------------------------------------------

def _fs(path: str):
  """(isdir, exists, listdir) for a local path or a gs:// / s3:// URI."""
  if '://' in path:
    from components.lib.object_storage import enable_for
    enable_for(path)
    import tensorflow as tf
    return (tf.io.gfile.isdir, tf.io.gfile.exists,
            lambda p: [name.rstrip('/') for name in tf.io.gfile.listdir(p)])
  return os.path.isdir, os.path.exists, os.listdir


def _join(base: str, name: str) -> str:
  return f'{base.rstrip("/")}/{name}' if '://' in base else os.path.join(base, name)


def newest_version(serving_dir: str) -> Tuple[str, str]:
  """(version dir, version) of the highest-numbered version with a saved_model.pb, as TF Serving
  picks: folders that are not a number (e.g. a push's `.pushing-…` staging folder) do not count."""
  isdir, exists, listdir = _fs(serving_dir)
  if not isdir(serving_dir):
    raise ModelError(f'{serving_dir}: no such model directory')
  versions = sorted((int(name), name) for name in listdir(serving_dir)
                    if name.isdigit() and exists(_join(_join(serving_dir, name), SAVED_MODEL)))
  if not versions:
    raise ModelError(f'{serving_dir}: no model version in it (no numbered folder with {SAVED_MODEL}); '
                     'run the pipeline first, or pass --model')
  name = versions[-1][1]
  return _join(serving_dir, name), name


def resolve_model(model: Optional[str], output_dir: str = DEFAULT_OUTPUT_DIR) -> Tuple[str, str]:
  """(version dir, version) for --model, as the module docstring says. The version is the dir's
  name ('' when a model dir outside a serving dir is not named by a number)."""
  serving_dir = LocalPaths.under(output_dir).serving_dir
  if model is None:
    if not os.path.isdir(serving_dir):
      raise ModelError(f'{serving_dir}: no such directory: nothing pushed there yet '
                       '(run the pipeline, or pass --model or --output-dir)')
    return newest_version(serving_dir)
  if '://' in model:
    from components.lib.object_storage import unreachable
    problem = unreachable(model)  # else a dead endpoint would read as "no such model directory"
    if problem:
      raise StoreUnreachable(f'{model}: {problem}')
  isdir, exists, _ = _fs(model)
  if model.rsplit('/', 1)[-1] == SAVED_MODEL and exists(model) and not isdir(model):
    model = model.rsplit('/', 1)[0] if '/' in model else '.'  # the file itself: its dir
  if isdir(model):
    model = model if '://' in model else os.path.abspath(model)
    if exists(_join(model, SAVED_MODEL)):
      name = model.rstrip('/').rsplit('/', 1)[-1]
      return model, name if name.isdigit() else ''
    return newest_version(model)
  if exists(model):
    raise ModelError(f'{model}: not a model directory (a SavedModel version dir or a serving dir)')
  if model.isdigit():
    version_dir = os.path.join(serving_dir, model)
    if os.path.exists(os.path.join(version_dir, SAVED_MODEL)):
      return version_dir, model
    raise ModelError(f'version {model}: not in {serving_dir} (no {model}/{SAVED_MODEL} there); '
                     'pass --output-dir, or the model directory')
  raise ModelError(f'{model}: no such model directory')


def load_classify(version_dir: str):
  """The SavedModel's `classify` signature; ModelError if it cannot be loaded or has none."""
  import tensorflow as tf
  try:
    loaded = tf.saved_model.load(version_dir)
  except Exception as e:  # pylint: disable=broad-except  # TF raises many kinds
    raise ModelError(f'{version_dir}: cannot load the SavedModel ({_first_line(e)})') from None
  if SIGNATURE not in loaded.signatures:
    raise ModelError(f'{version_dir}: the model has no {SIGNATURE!r} signature '
                     f'(it has {sorted(loaded.signatures)})')
  return loaded.signatures[SIGNATURE]


TF_BOILERPLATE = ('Graph execution error:', 'Detected at node', '<stack traces unavailable>', '[[')


def _first_line(error: BaseException) -> str:
  """The first line that says something: not TensorFlow's 'Graph execution error:', its
  'Detected at node …' and stack-trace lines, or its '[[{{node …}}]]' trailer."""
  text = getattr(error, 'message', None) or str(error)
  for line in text.splitlines():
    line = line.strip()
    if line and not line.startswith(TF_BOILERPLATE):
      return line
  return type(error).__name__


def refusal(error: BaseException) -> str:
  """The signature's own words from an InvalidArgumentError: 'image pixels must be in [0, 1]
  (…); got values from 0 to 255', without TensorFlow's 'Graph execution error', node names and
  'assertion failed: [...]'."""
  text = getattr(error, 'message', None) or str(error)
  marker = 'assertion failed: ['
  if marker in text:
    line = text[text.index(marker) + len(marker):].splitlines()[0]
    return line[:line.rindex(']')] if ']' in line else line
  return _first_line(error)


# --- class names --------------------------------------------------------------------------------

DIGITS = [str(i) for i in range(10)]


def class_names(version: str, output_dir: str = DEFAULT_OUTPUT_DIR) -> List[str]:
  """The names of the classes 0-9 of pushed version `version`: from the Examples artifact its
  Trainer read (MnistExampleGen's `class_names`): the version's provenance names the Model, the
  output dir's SQLite store its Trainer and that Trainer's input. The digits when the version, the
  store or the property is not there."""
  metadata_path = LocalPaths.under(output_dir).metadata_path
  if not version or not os.path.exists(metadata_path):
    return DIGITS
  try:
    from components.mnist_pusher import provenance
    from inspection import runs
    from pipeline import store as store_lib
    model_uri = provenance(os.path.join(LocalPaths.under(output_dir).serving_dir, version)).get('model_uri')
    if not model_uri:
      return DIGITS
    store = store_lib.open_store(store_lib.sqlite_config(metadata_path, read_only=True))
    models = store.get_artifacts_by_uri(model_uri)
    events = store.get_events_by_artifact_ids([m.id for m in models]) if models else []
    trainers = [e.execution_id for e in events if e.type in runs.OUTPUT_EVENTS]
    for examples in runs.artifacts_of(store, trainers[0], outputs=False) if trainers else []:
      if runs.type_name(store, examples) == 'Examples' and 'class_names' in examples.custom_properties:
        names = json.loads(examples.custom_properties['class_names'].string_value)
        if isinstance(names, list) and len(names) == 10:
          return [str(n) for n in names]
  except Exception:  # pylint: disable=broad-except  # names are a nicety; the answer stands
    return DIGITS
  return DIGITS


def _output_dir_of(version_dir: str, output_dir: str) -> str:
  """<D> for a version dir <D>/serving/<version> of a local run (D has the store), else output_dir."""
  if '://' not in version_dir:
    candidate = os.path.dirname(os.path.dirname(os.path.abspath(version_dir)))
    if os.path.exists(LocalPaths.under(candidate).metadata_path):
      return candidate
  return output_dir


# --- answering ----------------------------------------------------------------------------------

def classify(signature, images):
  """(classes [N], probabilities [N, 10]) as numpy; InvalidArgumentError if refused."""
  import tensorflow as tf
  outputs = signature(image=tf.constant(images, tf.float32))
  return outputs['classes'].numpy(), outputs['probabilities'].numpy()


def predict_files(signature, paths: List[str], names: Optional[List[str]] = None,
                  batch_size: Optional[int] = None):
  """Yields ('answer', dict) per image and ('error', dict) per input (or rest of an input) that
  gets none. An .npy is answered pictures.BATCH images at a time, so memory is bounded whatever
  its length; a batch the model refuses ends that file's answers with one error."""
  names = names or DIGITS
  import tensorflow as tf
  from predict import pictures
  batch_size = batch_size or pictures.BATCH
  for path in paths:
    try:
      batches, batch = pictures.load_batches(path, batch_size)
    except pictures.InputError as e:
      yield 'error', {'file': path, 'error': str(e)}
      continue
    except Exception as e:  # pylint: disable=broad-except  # still one line, and on to the next
      yield 'error', {'file': path, 'error': f'cannot prepare it ({type(e).__name__}: {_first_line(e)})'}
      continue
    first = 0
    for images in batches:  # an .npy of any length in bounded memory, one batch at a time
      try:
        classes, probabilities = classify(signature, images)
      except tf.errors.InvalidArgumentError as e:
        where = f' (images {first}-{first + len(images) - 1})' if batch and first else ''
        yield 'error', {'file': path, 'error': f'refused by the model{where}: {refusal(e)}'}
        break
      except tf.errors.OpError as e:
        yield 'error', {'file': path, 'error': f'the model failed: {_first_line(e)}'}
        break
      for i, (digit, probs) in enumerate(zip(classes, probabilities), start=first):
        yield 'answer', {'file': path, 'index': i if batch else None, 'class': int(digit),
                         'class_name': names[int(digit)],
                         'probability': float(probs[digit]),
                         'probabilities': [float(p) for p in probs]}
      first += len(images)


def _label(answer: dict) -> str:
  return answer['file'] if answer['index'] is None else f'{answer["file"]}[{answer["index"]}]'


# --- command line -------------------------------------------------------------------------------

def _parser(prog: str = 'python -m predict') -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog=prog, description=__doc__.split('\n\n')[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=__doc__.split('\n\n', 1)[1])
  parser.add_argument('images', nargs='+', metavar='IMAGE', help='PNG/JPEG pictures or .npy arrays')
  parser.add_argument('--model', metavar='DIR|VERSION',
                      help='a version dir, a serving dir (its newest version) or a version number '
                      'under <output-dir>/serving (default: the newest version there)')
  parser.add_argument('--output-dir', metavar='DIR',
                      help=f'the local run directory whose serving/ holds the versions (default: {DEFAULT_OUTPUT_DIR})')
  add_demo_argument(parser, 'the smoke run\'s output dir:')
  parser.add_argument('--json', action='store_true',
                      help='print one JSON object: the model, every answer (file, index, class, '
                      'probability, probabilities) and every error')
  return parser


def _refusal(model: Optional[str], error: BaseException) -> Optional[str]:
  """'access denied …' when a remote --model failed because the store refused the credentials."""
  if not (model and '://' in model) or isinstance(error, StoreUnreachable):
    return None
  from components.lib import object_storage
  return object_storage.denied(error) or object_storage.refused(model)


def main(argv: Optional[List[str]] = None, prog: str = 'python -m predict') -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    args = _parser(prog).parse_args(argv)
  except SystemExit as e:  # argparse: a usage error (2) or --help (0)
    return EXIT_USAGE if e.code not in (0, None) else 0
  args.output_dir = output_dir_of(args)
  try:
    version_dir, version = resolve_model(args.model, args.output_dir)
    signature = load_classify(version_dir)
  except Exception as e:  # pylint: disable=broad-except  # ModelError, or the store's own error
    refusal = _refusal(args.model, e)
    if refusal:  # tensorflow-io answers a 403 as "not there": never call that "no such model"
      print(f'error: {args.model}: {refusal}', file=sys.stderr)
      return EXIT_FAILED
    if not isinstance(e, ModelError):
      raise
    print(f'error: {e}', file=sys.stderr)
    return EXIT_FAILED
  if not args.json:
    print(f'Model: {version_dir}' + (f' (version {version})' if version else ''), file=sys.stderr)
  answers, errors = [], []
  names = class_names(version, _output_dir_of(version_dir, args.output_dir))
  for kind, item in predict_files(signature, args.images, names):
    if kind == 'error':
      errors.append(item)
      print(f'error: {item["file"]}: {item["error"]}', file=sys.stderr)
    else:
      answers.append(item)
      if not args.json:
        named = '' if item['class_name'] == str(item['class']) else f' {item["class_name"]}'
        print(f'{_label(item)}: {item["class"]}{named} (p={item["probability"]:.3f})', flush=True)
  if args.json:
    print(json.dumps({'model': version_dir, 'version': version, 'predictions': answers,
                      'errors': errors}, indent=1))
  return EXIT_FAILED if errors else 0


if __name__ == '__main__':
  try:
    sys.exit(main())
  except BrokenPipeError:  # `… | head`: the reader left; say nothing more
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(EXIT_FAILED)
