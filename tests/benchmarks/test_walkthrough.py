"""The walkthrough benchmark's pure parts: it pastes README.md's own lines (so the README cannot
drift from what is timed) and the commands a run summary prints."""

import importlib.util
import os

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
  'walkthrough', os.path.join(REPO, 'benchmarks', 'walkthrough.py')
)
assert _spec is not None and _spec.loader is not None
walkthrough = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(walkthrough)


def test_the_readme_holds_every_command_the_walkthrough_pastes():
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    assert walkthrough.missing_from_readme(f.read()) == []


def test_a_command_missing_from_the_readme_is_named():
  readme = (
    '```\nmake install\nmnist-tfx run --demo   # smoke\n```\n`mnist-tfx inspect --demo runs`\n'
  )
  missing = walkthrough.missing_from_readme(readme)
  assert 'make install' not in missing and 'mnist-tfx run --demo' not in missing
  assert 'mnist-tfx inspect --demo runs' in missing  # inline prose is not a pasted block
  assert walkthrough.EXPORT in missing


def test_the_summary_commands_are_taken_as_printed():
  output = '\n'.join(
    [
      'Test accuracy:   0.9670',
      'Inspect:         /p/.venv/bin/mnist-tfx inspect --output-dir /p/demo_output lineage 17',
      'TensorBoard:     /p/.venv/bin/tensorboard --logdir /p/x   # then open http://localhost:6006',
      (
        'Try it:          /p/.venv/bin/mnist-tfx predict --model /p/demo_output/serving/17 /p/e.npy'
        '  # true: 7, 2'
      ),
      'Compare:         /p/.venv/bin/mnist-tfx inspect --output-dir /p/demo_output compare',
    ]
  )
  assert walkthrough.summary_commands(output) == [
    '/p/.venv/bin/mnist-tfx inspect --output-dir /p/demo_output lineage 17',
    '/p/.venv/bin/mnist-tfx predict --model /p/demo_output/serving/17 /p/e.npy  # true: 7, 2',
    '/p/.venv/bin/mnist-tfx inspect --output-dir /p/demo_output compare',
  ]
