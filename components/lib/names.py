"""The names that the components write and the rest of the project reads: node ids, exec
properties (and the Kubeflow pipeline parameters of the same names), the custom properties our
components set on their artifacts, and the files they add to them. One home for each, and no
TFX here, so that the read side (inspection/) and the command lines import them without
TensorFlow."""

# --- Node ids: create_pipeline gives its components these; the progress lines, the read side
# and the Kubeflow tasks find them by them.
EXAMPLE_GEN = 'MnistExampleGen'
IMPORT_SCHEMA_GEN = 'ImportSchemaGen'
STATISTICS_GEN = 'StatisticsGen'
SCHEMA_GEN = 'SchemaGen'
EXAMPLE_VALIDATOR = 'ExampleValidator'
TRAINER = 'Trainer'  # its Model is the run's candidate
BASELINE_RESOLVER = 'LatestBlessedModelResolver'  # local runs and Vertex: TFX's Resolver
BASELINE_LOOKUP = 'LatestBlessedModel'  # open-source KFP: a lookup in KFP's ML Metadata…
BASELINE_COPY = 'BaselineModel'  # …and a cached copy of the model it found
EVALUATOR = 'Evaluator'
SERVING_CHECK = 'ServingCheck'
PUSHER = 'Pusher'
RUN_RESULTS = 'RunResults'  # Kubeflow only: the results step `kubeflow compile` appends
# --infer-dir: new pictures → Examples → TFX's BulkInferrer (the blessed model) → the CSV.
INFER_EXAMPLE_GEN = 'InferExampleGen'
BULK_INFERRER = 'BulkInferrer'
PREDICTIONS_WRITER = 'PredictionsWriter'
VALIDATION_NODES = (IMPORT_SCHEMA_GEN, STATISTICS_GEN, SCHEMA_GEN, EXAMPLE_VALIDATOR)

# --- Exec properties our components add to TFX's. EPOCHS, ACCURACY_THRESHOLD and DATA_DIR are
# also the Kubeflow pipeline parameters a run can set (DATA_DIR becomes ExampleGen's INPUT_BASE).
INPUT_BASE = 'input_base'  # TFX's ExampleGen: where the data is
DATA_DIR = 'data_dir'
EPOCHS = 'epochs'
ACCURACY_THRESHOLD = 'accuracy_threshold'
LABEL_DRIFT_BOUND = 'label_drift_bound'
LATENCY_BOUND_MS = 'max_latency_ms'
PIPELINE_NAME = 'pipeline_name'
CUSTOM_CONFIG = 'custom_config'  # TFX's: ExampleGen's limits and data set, the TrainingConfig
TRAIN_EXAMPLES, EVAL_EXAMPLES = 'train_examples', 'eval_examples'  # ExampleGen's custom_config

# --- Custom properties our components set.
DATASET = 'dataset'  # Examples: the --dataset name (also in ExampleGen's custom_config)
CLASS_NAMES = 'class_names'  # Examples: JSON list, label i -> its name
MANIFEST_SHA256 = 'manifest_sha256'  # Examples of a folder or CSV: the manifest's digest
UNLABELLED = 'unlabelled'  # ExampleGen's custom_config: new pictures, no labels (--infer-dir)
PREDICTED_ROWS, NOT_BLESSED_NOTE = 'rows', 'nothing_inferred'  # Predictions: rows, or why none
BLESSED = 'blessed'  # ModelBlessing (TFMA) and InfraBlessing (ServingCheck): 1 or 0
REASONS = 'reasons'  # InfraBlessing: JSON list of one-line reasons, empty when servable
LATENCY_P50_MS, LATENCY_P99_MS = 'latency_p50_ms', 'latency_p99_ms'  # InfraBlessing, one image
ALREADY_SERVING = 'already_serving_version'  # PushedModel: nothing new written, this serves it
# TFX's own, read back: PushedModel's push, ModelBlessing's candidate.
PUSHED, PUSHED_VERSION, PUSHED_DESTINATION = 'pushed', 'pushed_version', 'pushed_destination'
CURRENT_MODEL = 'current_model'

# --- Log records the local run's console turns into progress lines (pipeline/local/progress.py).
EXAMPLE_COUNTS_LOG = 'MnistExampleGen wrote %s'  # 'train 60000, eval 10000'
SERVING_VERDICT_LOG = 'ServingCheck verdict: %s'  # 'servable, p99 1.5 ms for one image'
PREDICTIONS_LOG = 'PredictionsWriter wrote %s'  # '42 predictions'

# --- Files our components add to their artifacts.
IMAGE_STATS_FILE = 'image_stats.json'  # Examples: per split label counts, mean images, histogram
SERVING_RESULT_FILE = 'serving_check.json'  # InfraBlessing: the probe's numbers and the verdict
ANSWERS_FILE = 'eval_answers.npz'  # InfraBlessing: eval labels [N], `classify` probabilities [N, K]
MANIFEST_FILE = 'manifest.csv'  # Examples of a folder or CSV: path,class,split,size,sha256
PREDICTIONS_FILE = 'predictions.csv'  # Predictions: file,class,probability, a row per picture
