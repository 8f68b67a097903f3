"""mnist-tfx predict: the class of each picture, from a pushed model's `classify` signature.

  mnist-tfx predict [--model VERSION_DIR|SERVING_DIR|VERSION] [--output-dir DIR | --demo]
                    [--json] IMAGE [IMAGE ...]

IMAGE: a PNG, JPEG, GIF, BMP or TIFF picture (up to 40 megapixels; any size, gray or
colour), prepared as the model's training data was (predict/pictures.py): for a model of MNIST-
style data (mnist, fashion-mnist, idx) as MNIST's digits were, either polarity; for a model of a
folder of pictures or a CSV (images, csv) by the image ExampleGen's own rule (the whole picture,
gray, 28x28); or an .npy array [28, 28] or [N, 28, 28] in [0, 1] (uint8 0-255 is scaled), one
answer per image.

--model: a version dir (it has saved_model.pb); a serving dir (its newest version, as TF
Serving picks); or a version number under <output-dir>/serving. Default: the newest version in
<output-dir>/serving.

One line per image (`example5.png: 5 (p=0.998)`; with the class name where the model's classes
are not the digits: `shoe.npy[0]: 9 Ankle boot (p=0.870)`, `new.jpg: 1 sneaker (p=0.990)`), or
--json. The class names are the model's own (a model of --dataset images or csv answers them),
else those of its lineage in the ML Metadata store of the output dir that serves it (the Examples
it was trained on name their data set's classes); a model found nowhere there gets the digits.
Exit codes: 0 every input answered; 1 an input could not be read or was refused by the model (one
line each; the others are still answered), or no model; 2 a bad command line.
"""

import argparse
import json
import os
import sys
from typing import List, Optional

from components.lib import artifact_files, object_storage, serving_dir
from pipeline import console
from pipeline.commands import PROG, ExitCode
from pipeline.paths import DEFAULT_OUTPUT_DIR, add_demo_argument, output_dir_of
from pipeline.secrets import strip_userinfo

PROG_NAME = f'{PROG} predict'


def _parser(prog: str = PROG_NAME) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog=prog,
    description=__doc__.split('\n\n')[0],
    formatter_class=argparse.RawDescriptionHelpFormatter,
    epilog=__doc__.split('\n\n', 1)[1],
  )
  parser.add_argument('images', nargs='+', metavar='IMAGE', help='PNG/JPEG pictures or .npy arrays')
  parser.add_argument(
    '--model',
    metavar='DIR|VERSION',
    help='a version dir, a serving dir (its newest version) or a version number '
    'under <output-dir>/serving (default: the newest version there)',
  )
  parser.add_argument(
    '--output-dir',
    metavar='DIR',
    help='the local run directory whose serving/ holds the versions '
    f'(default: {DEFAULT_OUTPUT_DIR})',
  )
  add_demo_argument(parser, "the smoke run's output dir:")
  parser.add_argument(
    '--json',
    action='store_true',
    help='print one JSON object: the model, every answer (file, index, class, '
    'probability, probabilities) and every error',
  )
  return parser


def _denied(model: Optional[str], error: BaseException) -> Optional[str]:
  """'access denied …' when a remote --model failed because the store refused the credentials."""
  if not model or artifact_files.is_local(model):
    return None
  return object_storage.denied(error) or object_storage.refused(model)


def _note_ignored(version_dir: str, version: str) -> None:
  """For a version of a serving dir: the folders there that no server loads, named once."""
  if not version:
    return
  serving = os.path.dirname(version_dir.rstrip('/'))
  try:
    ignored = serving_dir.not_versions(serving)
  except Exception:  # noqa: BLE001  # a note only: the answer stands without it
    return
  if ignored:
    _say(
      f'Ignored in {serving}: {", ".join(ignored)} (not version numbers: a server loads only '
      'folders named by a plain decimal number)'
    )


def _say(line: str) -> None:
  """A line on stderr; a URL in it without its userinfo (`--model s3://KEY:SECRET@bucket/x`)."""
  print(console.printable(strip_userinfo(line)), file=sys.stderr)


def _label(answer: dict) -> str:
  return answer['file'] if answer['index'] is None else f'{answer["file"]}[{answer["index"]}]'


def main(argv: Optional[List[str]] = None, prog: str = PROG_NAME) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    args = _parser(prog).parse_args(argv)
  except SystemExit as e:  # argparse: a usage error (2) or --help (0)
    return ExitCode.USAGE if e.code not in (0, None) else ExitCode.OK
  args.output_dir = output_dir_of(args)
  console.quiet_python_logs()
  # Deferred: loading a model needs TensorFlow (seconds to import), which --help and a usage
  # error need not wait for.
  from predict import models

  try:
    version_dir, version = models.resolve_model(args.model, args.output_dir)
    _note_ignored(version_dir, version)
    signature = models.load_classify(version_dir)
  except Exception as e:  # noqa: BLE001  # ModelError, or the object store's own error
    denied = None if isinstance(e, models.StoreUnreachable) else _denied(args.model, e)
    if denied:  # tensorflow-io answers a 403 as "not there": never call that "no such model"
      _say(f'error: {args.model}: {denied}')
      return ExitCode.FAILED
    if not isinstance(e, models.ModelError):
      raise
    _say(f'error: {e}')
    return ExitCode.FAILED
  if not args.json:
    _say(f'Model: {version_dir}' + (f' (version {version})' if version else ''))
  answers, errors = [], []
  names, rule = (
    models.class_names(version_dir, signature),
    models.picture_rule(version_dir, signature),
  )
  for kind, item in models.predict_files(signature, args.images, names, rule=rule):
    if kind == 'error':
      errors.append(item)
      _say(f'error: {item["file"]}: {item["error"]}')
    else:
      answers.append(item)
      if not args.json:
        named = '' if item['class_name'] == str(item['class']) else f' {item["class_name"]}'
        print(f'{_label(item)}: {item["class"]}{named} (p={item["probability"]:.3f})', flush=True)
  if args.json:
    print(
      json.dumps(
        {
          'model': strip_userinfo(version_dir),
          'version': version,
          'predictions': answers,
          'errors': errors,
        },
        indent=1,
      )
    )
  return ExitCode.FAILED if errors else ExitCode.OK
