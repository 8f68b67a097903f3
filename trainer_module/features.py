"""The MNIST facts every layer shares, in one place (no TensorFlow: the IDX validation imports it).

What ExampleGen writes per tf.train.Example, what the Trainer and the Evaluator read, what the
model takes and predicts, and the split names.
"""

IMAGE_KEY = 'image'  # 784 raw uint8 bytes, row-major, 0 = background
LABEL_KEY = 'label'  # int64 digit 0-9
IMAGE_SIZE = 28  # images are IMAGE_SIZE x IMAGE_SIZE
NUM_CLASSES = 10
TRAIN_SPLIT = 'train'  # MNIST's 60k training set
EVAL_SPLIT = 'eval'  # MNIST's 10k test set: the Evaluator's gate
HISTORY_FILE = 'history.json'  # the Trainer's per-epoch metrics, in its ModelRun artifact
