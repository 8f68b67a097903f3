"""What a pod of the pipeline does on the object store, run alone in a process with a profile's
credentials (tests/kubeflow/test_profile_store.py): the Trainer's SavedModel write (the same
export the Trainer makes, of the seed model, untrained), the Pusher's push of it, and a Beam
file write (what StatisticsGen and the Evaluator do through TFDV and TFMA: temporary files,
renamed into place). Usage: python -m tests.kubeflow.profile_pod savedmodel|push|beam-write ARGS…"""

import json
import sys
from typing import Callable, Dict

from components.lib import object_storage


def savedmodel(model_uri: str) -> None:
  from trainer_module import export, model

  export.export_serving_model(model.build_model(), f'{model_uri}/Format-Serving')


def push(model_uri: str, serving: str, pushed_uri: str) -> None:
  from tfx.types import standard_artifacts

  from components import mnist_pusher

  model = standard_artifacts.Model()
  model.uri = model_uri
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = pushed_uri + '-blessing'
  blessing.set_int_custom_property('blessed', 1)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = pushed_uri
  mnist_pusher.Executor().Do(
    {'model': [model], 'model_blessing': [blessing]},
    {'pushed_model': [pushed]},
    {'push_destination': json.dumps({'filesystem': {'base_directory': serving}})},
  )
  print(f'pushed {pushed.get_string_custom_property("pushed_version")}')


def beam_write(prefix: str) -> None:
  import apache_beam as beam

  with beam.Pipeline() as pipeline:
    _ = (
      pipeline
      | beam.Create([b'one', b'two', b'three'])
      | beam.io.WriteToTFRecord(prefix, file_name_suffix='.gz')
    )


if __name__ == '__main__':
  object_storage.enable_s3()
  action, *args = sys.argv[1:]
  actions: Dict[str, Callable[..., None]] = {
    'savedmodel': savedmodel,
    'push': push,
    'beam-write': beam_write,
  }
  actions[action](*args)
