"""mnist-tfx kubeflow check|compile|upload|serve-manifest: Kubeflow Pipelines 2.x and Vertex AI,
from the same create_pipeline(...) as a local run (docs/how-to/kubeflow.md). Every line printed
goes through display.clean: no URL userinfo, no control characters."""

import argparse
import logging
import sys

from components.lib import names
from kubeflow import DEFAULT_MLMD_ADDRESS, arguments, check, healthz, serve_manifest
from kubeflow import resources as resources_lib
from kubeflow.display import clean
from kubeflow.upload import UploadError, UsageError, upload
from pipeline import config as config_lib
from pipeline import flags
from pipeline.commands import PROG, ExitCode

PROG_NAME = f'{PROG} kubeflow'


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog=PROG_NAME,
    description='Check what a Kubeflow Pipelines 2.x cluster needs, compile the pipeline for it '
    '(or for Vertex AI Pipelines), upload it, and serve the pushed model with KServe.',
  )
  commands = parser.add_subparsers(dest='command', required=True)

  compile_cmd = commands.add_parser(
    'compile',
    help='write pipeline.yaml (KFP 2.x) and pipeline.json (Vertex PipelineJob)',
    description='Compiles with TFX KubeflowV2DagRunner. Needs no network and no credentials.',
  )
  compile_cmd.add_argument(
    '--output',
    required=True,
    metavar='FILE.yaml',
    help='the PipelineSpec YAML; the PipelineJob JSON goes beside it',
  )
  compile_cmd.add_argument(
    '--image', required=True, help='component image built from this repo (make image)'
  )
  compile_cmd.add_argument(
    '--pipeline-root',
    required=True,
    metavar='URI',
    help='where runs write artifacts: gs://BUCKET[/PATH] or s3://BUCKET[/PATH] (AWS S3, MinIO or '
    'SeaweedFS); Vertex AI: gs:// only',
  )
  compile_cmd.add_argument(
    '--pipeline-name',
    default=config_lib.PIPELINE_NAME,
    metavar='NAME',
    help="the pipeline's name in KFP and ML Metadata; the baseline model "
    "is looked up only among this name's runs, so two teams can run "
    'the same code side by side (default: %(default)s)',
  )
  compile_cmd.add_argument(
    '--target',
    choices=('kfp', 'vertex'),
    default='kfp',
    help='kfp: open-source Kubeflow Pipelines 2.x (default); vertex: Vertex AI '
    "Pipelines (keeps TFX's Resolver, which open-source KFP cannot run)",
  )
  compile_cmd.add_argument(
    '--mlmd-address',
    default=DEFAULT_MLMD_ADDRESS,
    metavar='HOST:PORT',
    help="KFP's ML Metadata gRPC service as pods reach it, for the "
    'baseline-model lookup (kfp target; default: %(default)s)',
  )
  compile_cmd.add_argument(
    '--serving-dir', metavar='URI', help='Pusher destination (default: <pipeline-root>/serving)'
  )
  compile_cmd.add_argument(
    '--kfp-version',
    metavar='X.Y',
    help='refuse locations that this Kubeflow Pipelines release would deny '
    '(see `mnist-tfx kubeflow check`)',
  )
  compile_cmd.add_argument(
    '--multi-user',
    metavar='NAMESPACE',
    help='with --kfp-version: the runs go to this profile namespace of a multi-user install',
  )
  compile_cmd.add_argument(
    '--resources',
    action='append',
    default=[],
    metavar='COMPONENT=cpu:N,memory:SIZE[,gpu:N][,gpu-type:T]',
    help="a task's container resources (repeatable), e.g. Trainer=cpu:4,memory:16G,gpu:1: "
    'requests and limits on KFP, GPUs as nvidia.com/gpu (gpu-type: another resource name); '
    'limits and an accelerator type (gpu-type, e.g. NVIDIA_TESLA_T4) on Vertex',
  )
  flags.add_arguments(
    compile_cmd,
    data_dir_help=(
      'URI of the four MNIST IDX .gz files as the pods see it; the default of the data_dir '
      'pipeline parameter (default: <pipeline-root>/data/mnist)'
    ),
  )

  upload_cmd = commands.add_parser(
    'upload',
    help='upload pipeline.yaml with kfp.Client, optionally start a run',
    description='Uploads a new pipeline, or, when the name exists, a new version named '
    'NAME-YYYYmmdd-HHMMSS-XXXXXX: UTC time, then 6 random hex digits, so two uploads in the '
    "same second still differ (the description holds the package's sha256). On a multi-user "
    'endpoint the namespace is settled, and with --run the experiment too, before anything is '
    'uploaded.',
  )
  upload_cmd.add_argument(
    '--host', required=True, help='KFP API endpoint, e.g. http://localhost:8080'
  )
  upload_cmd.add_argument('--package', required=True, metavar='FILE.yaml')
  upload_cmd.add_argument('--name', help='pipeline name (default: the one in the package)')
  upload_cmd.add_argument('--run', action='store_true', help='also start a run of the new version')
  upload_cmd.add_argument(
    '--param',
    action='append',
    default=[],
    metavar='NAME=VALUE',
    help='pipeline parameter for the run (repeatable): data_dir, epochs, accuracy_threshold',
  )
  upload_cmd.add_argument(
    '--pipeline-root', metavar='URI', help="the run's pipeline root (default: the package's)"
  )
  upload_cmd.add_argument(
    '--namespace',
    metavar='NS',
    help='Kubernetes namespace (your Kubeflow profile) for the pipeline, '
    'experiment and run; required by a multi-user endpoint, ignored by a '
    'single-user one (default: "namespace" in kfp\'s '
    '~/.config/kfp/context.json)',
  )
  upload_cmd.add_argument(
    '--experiment',
    default='Default',
    metavar='NAME',
    help='experiment for the run, in the namespace: reused if it exists, '
    'else created (default: %(default)s)',
  )
  upload_cmd.add_argument(
    '--timeout',
    type=float,
    default=30.0,
    metavar='SECONDS',
    help='limit on each request to the endpoint, connect and read; nothing '
    'is retried (default: %(default)s)',
  )

  check_cmd = commands.add_parser(
    'check',
    help='ask a KFP endpoint for its release and mode; print what to set for this pipeline',
    description="Reads the health check of the endpoint's API server, or of the UI in front of it "
    "(ml-pipeline-ui, the Kubeflow gateway's /pipeline), for the release and multi-user mode, or "
    'takes them from --kfp-version and --multi-user with no --host (offline), and prints, for '
    'that release: the pipeline root, the kfp-launcher ConfigMap with its providers setting, the '
    "object-store endpoint and the pods' variables, PUBLISH_LOGS, the disk per pod and where "
    'the run report shows in the UI. Changes nothing.',
  )
  check_cmd.add_argument(
    '--host',
    help='KFP API or UI endpoint, e.g. http://localhost:8080 or https://GATEWAY/pipeline; '
    'without it, the plan for --kfp-version offline',
  )
  check_cmd.add_argument(
    '--namespace', metavar='NS', help='your profile namespace (required by a multi-user endpoint)'
  )
  check_cmd.add_argument(
    '--kfp-version',
    metavar='X.Y',
    help='the release: without --host, the plan offline; with it, when the endpoint does not say '
    'it (tag_name unknown)',
  )
  check_cmd.add_argument(
    '--multi-user',
    metavar='NAMESPACE',
    help='offline (no --host): the plan for this profile namespace of a multi-user install',
  )
  check_cmd.add_argument(
    '--timeout',
    type=float,
    default=30.0,
    metavar='SECONDS',
    help='deadline on the whole exchange: connect, redirects and every byte of the answer '
    '(default: %(default)s, at most 600)',
  )
  serve_manifest.add_parser(commands)
  return parser


def _error(error) -> int:
  print(f'error: {clean(error)}', file=sys.stderr)
  return ExitCode.USAGE if isinstance(error, (UsageError, ValueError)) else ExitCode.FAILED


def _say(line) -> None:
  print(clean(line))


def _compile(args) -> int:
  try:
    root = arguments.check_location('--pipeline-root', args.pipeline_root, volume_ok=False)
    data_dir = arguments.check_location(
      '--data-dir', args.data_dir or f'{root.rstrip("/")}/data/mnist'
    )
    serving_dir = arguments.check_location(
      '--serving-dir', args.serving_dir or f'{root.rstrip("/")}/serving'
    )
    if args.target == 'vertex' and (args.kfp_version or args.multi_user):
      raise ValueError('--kfp-version and --multi-user apply to --target kfp (open-source KFP)')
    if args.target == 'vertex' and not root.startswith('gs://'):
      raise ValueError(
        f'--pipeline-root {root}: Vertex AI Pipelines writes only to Cloud Storage; use '
        'gs://BUCKET/PATH'
      )
    chosen = resources_lib.parse(args.resources, args.target)
    arguments.check_release_locations(
      args.kfp_version,
      args.multi_user,
      {'--pipeline-root': root, '--data-dir': data_dir, '--serving-dir': serving_dir},
    )
    arguments.check_image(args.image)
    arguments.check_pipeline_name(args.pipeline_name)
    if args.target == 'kfp':
      arguments.check_mlmd_address(args.mlmd_address)
    arguments.check_beam_args(args.beam_args)
    config = config_lib.config_from_args(
      args,
      data_dir=data_dir,
      pipeline_root=root,
      serving_dir=serving_dir,
      pipeline_name=args.pipeline_name,
    )
  except ValueError as e:
    return _error(e)
  try:  # here, not only in compile_pipeline: refused before TFX is loaded (seconds)
    arguments.check_output(args.output)
  except ValueError as e:
    print(f'error: {clean(e)}', file=sys.stderr)
    return ExitCode.FAILED  # the status it has always had (compile_pipeline's ValueError)
  # Deferred: compiling imports TFX and TensorFlow (seconds), which the checks above, `check`
  # and `upload` never need.
  from kubeflow import compile as compile_lib

  try:
    yaml_path, json_path = compile_lib.compile_pipeline(
      config,
      args.image,
      args.output,
      target=args.target,
      mlmd_address=args.mlmd_address,
      resources=chosen,
    )
  except (ValueError, OSError) as e:
    print(f'error: {clean(e)}', file=sys.stderr)
    return ExitCode.FAILED
  _say(
    f'Wrote {yaml_path} (PipelineSpec) and {json_path} (PipelineJob) for {args.target}: '
    f'pipeline {config.pipeline_name}, image {args.image}, pipeline root {root}'
  )
  for component, given in chosen.items():
    _say(f'Resources of {component}: {resources_lib.describe(given, args.target)}')
  gpus = chosen[names.TRAINER].gpu if names.TRAINER in chosen else None
  if gpus and gpus > 1 and config.training.strategy != 'mirrored':
    _say(
      f'Note: the Trainer gets {gpus} GPUs; compile with --strategy mirrored to train on all of '
      'them (the default strategy trains on one)'
    )
  return 0


def _upload(args) -> int:
  try:
    if args.pipeline_root:
      args.pipeline_root = arguments.check_location(
        '--pipeline-root', args.pipeline_root, volume_ok=False
      )
    upload(
      args.host,
      args.package,
      name=args.name,
      run=args.run,
      param_assignments=args.param,
      pipeline_root=args.pipeline_root,
      experiment=args.experiment,
      namespace=args.namespace,
      timeout=args.timeout,
      log=_say,
    )
  except (ValueError, UploadError) as e:
    return _error(e)
  return 0


def _check(args) -> int:
  try:
    check.run(
      args.host,
      args.namespace,
      args.timeout,
      kfp_version=args.kfp_version,
      log=_say,
      multi_user_namespace=args.multi_user,
    )
  except (UploadError, healthz.HealthzError) as e:
    return _error(e)
  return 0


def _serve_manifest(args) -> int:
  try:
    serve_manifest.main(args, sys.stdout)
  except UploadError as e:
    return _error(e)
  if args.output:
    _say(f'Wrote {args.output} (InferenceService {args.name}); apply it with kubectl apply -f')
  return 0


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  args = _parser().parse_args(flags.join_option_values(list(argv)))
  logging.getLogger().setLevel(logging.ERROR)  # TFX's and kfp's INFO logs are noise here
  commands = {
    'compile': _compile,
    'upload': _upload,
    'check': _check,
    'serve-manifest': _serve_manifest,
  }
  return commands[args.command](args)
