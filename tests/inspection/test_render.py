"""render: the command line's tables and lineage tree from collected data alone (pure)."""

from inspection import render
from inspection.runs import RunSummary


def _examples(artifact_id=1, see_above=False):
  node = {
    'artifact_id': artifact_id,
    'type': 'Examples',
    'uri': '/r/MnistExampleGen/examples/2',
    'state': 'LIVE',
    'properties': {
      'sha256_train_images': 'ab' * 32,
      'source_uri': '/data/mnist',
      'train_examples': 3000,
    },
  }
  if see_above:
    node['see_above'] = True
  else:
    node['produced_by'] = {
      'execution_id': 2,
      'component': 'MnistExampleGen',
      'state': 'COMPLETE',
      'inputs': {},
    }
  return node


def _tree(evaluation):
  model = {
    'artifact_id': 3,
    'type': 'Model',
    'uri': '/r/Trainer/model/3',
    'state': 'LIVE',
    'properties': {},
    'produced_by': {
      'execution_id': 3,
      'component': 'Trainer',
      'state': 'COMPLETE',
      'inputs': {'examples': [_examples()]},
    },
  }
  blessing = {
    'artifact_id': 5,
    'type': 'ModelBlessing',
    'uri': '/r/Evaluator/blessing/4',
    'state': 'LIVE',
    'properties': {'blessed': 1},
    'produced_by': {
      'execution_id': 4,
      'component': 'Evaluator',
      'state': 'COMPLETE',
      'evaluation': evaluation,
      'inputs': {'examples': [_examples(see_above=True)]},
    },
  }
  return {
    'artifact_id': 6,
    'type': 'PushedModel',
    'uri': '/r/Pusher/pushed_model/5',
    'state': 'LIVE',
    'properties': {'pushed_version': '1795742029'},
    'produced_by': {
      'execution_id': 5,
      'component': 'Pusher',
      'state': 'COMPLETE',
      'inputs': {'model': [model], 'model_blessing': [blessing]},
    },
  }


def test_lineage_tree_one_fact_per_line():
  lines = render.lineage_lines(
    _tree(
      {
        'accuracy': 0.99123,
        'baseline_accuracy': 0.99,
        'accuracy_threshold': 0.99,
        'change_threshold': {'absolute': -1e-10},
        'failures': [],
      }
    )
  )
  assert lines == [
    'PushedModel #6 /r/Pusher/pushed_model/5 (version 1795742029)',
    '  ← Pusher (execution 5, COMPLETE)',
    '    model: Model #3 /r/Trainer/model/3',
    '        ← Trainer (execution 3, COMPLETE)',
    '          examples: Examples #1 /r/MnistExampleGen/examples/2',
    '                train-images sha256 ' + 'ab' * 32,
    '                source_uri: /data/mnist',
    '                train_examples: 3000',
    '              ← MnistExampleGen (execution 2, COMPLETE)',
    '    model_blessing: ModelBlessing #5 /r/Evaluator/blessing/4 (blessed)',
    '        ← Evaluator (execution 4, COMPLETE)',
    '            accuracy 0.9912, baseline 0.9900',
    '            threshold: accuracy ≥ 0.99, change ≥ -1e-10 vs baseline',
    '          examples: Examples #1 /r/MnistExampleGen/examples/2  (see above)',
  ]


def test_lineage_of_a_first_run_and_of_a_refusal():
  first = render.lineage_lines(
    _tree(
      {
        'accuracy': 0.9,
        'baseline_accuracy': None,
        'accuracy_threshold': 0.5,
        'change_threshold': None,
        'failures': [],
      }
    )
  )
  assert '            accuracy 0.9000, no baseline' in first
  assert '            threshold: accuracy ≥ 0.5' in first
  refused = render.lineage_lines(
    _tree(
      {
        'accuracy': 0.9,
        'baseline_accuracy': None,
        'accuracy_threshold': 0.95,
        'change_threshold': None,
        'failures': ['below the bound 0.9500'],
      }
    )
  )
  assert '            failed: below the bound 0.9500' in refused


def test_runs_table():
  settings = {
    'dataset': 'fashion-mnist',
    'epochs': 18,
    'batch_size': 128,
    'learning_rate': 0.001,
    'precision': 'auto',
    'seed': None,
    'augment_rotation': 10.0,
    'augment_zoom': 0.1,
    'augment_shift': 2.0,
  }
  pushed = RunSummary(
    run_id='2026-11-27T01:13:38',
    started='2026-11-27T01:13:38',
    state='complete',
    accuracy=0.99123,
    blessed=True,
    servable=True,
    pushed_version='1795742029',
    component_states={'Trainer': 'COMPLETE', 'Pusher': 'COMPLETE'},
    component_seconds={'Trainer': 40.4, 'Pusher': 0.2},
    settings=settings,
  )
  already = RunSummary(
    run_id='b',
    started='s',
    state='complete',
    accuracy=0.99123,
    blessed=True,
    already_serving='1795742029',
    component_states={'Trainer': 'CACHED'},
    component_seconds={'Trainer': 0.0},
    settings=dict(settings, seed=7, augment_rotation=0.0, augment_zoom=0.0, augment_shift=0.0),
  )
  failed = RunSummary(
    run_id='c', started='s', state='failed', component_states={'Trainer': 'FAILED'}
  )
  killed = RunSummary(
    run_id='d', started='s', state='interrupted', component_states={'Trainer': 'INTERRUPTED'}
  )
  lines = render.runs_table([s.to_json() for s in (pushed, already, failed, killed)]).splitlines()
  assert lines[0].split() == [
    'RUN',
    'STARTED',
    'STATE',
    'ACCURACY',
    'BLESSED',
    'SERVABLE',
    'PUSHED',
    'SETTINGS',
    'COMPONENTS',
  ]
  assert lines[1].split() == [
    '2026-11-27T01:13:38',
    '2026-11-27T01:13:38',
    'complete',
    '0.9912',
    'yes',
    'yes',
    '1795742029',
    'fashion-mnist',
    'epochs=18',
    'batch=128',
    'lr=0.001',
    'precision=auto',
    'seed=-',
    'augmented',
    'Trainer',
    'complete',
    '40s,',
    'Pusher',
    'complete',
    '0s',
  ]
  assert lines[2].split()[2:8] == ['complete', '0.9912', 'yes', '-', '1795742029', '(already)']
  assert 'seed=7 no-augment' in lines[2]
  assert lines[3].split()[2:8] == ['failed', '-', '-', '-', '-', '-']
  assert lines[4].split()[2:] == [
    'interrupted',
    '-',
    '-',
    '-',
    '-',
    '-',
    'Trainer',
    'interrupted',
    '0s',
  ]
  assert lines[1].index('0.9912') == lines[0].index('ACCURACY')  # columns line up
  assert lines[1].index('fashion-mnist') == lines[0].index('SETTINGS')


def test_artifacts_table_shortens_digests():
  items = [
    {
      'id': 1,
      'type': 'Examples',
      'state': 'LIVE',
      'uri': '/r/e',
      'properties': {'sha256_train_images': 'ab' * 32, 'span': 0, 'missing': None},
    }
  ]
  header, row = render.artifacts_table(items).splitlines()
  assert row.split() == [
    '1',
    'Examples',
    'LIVE',
    '/r/e',
    f'sha256_train_images={"ab" * 8}…',
    'span=0',
  ]
  assert render.artifacts_table([]).split() == ['ID', 'TYPE', 'STATE', 'URI', 'PROPERTIES']
