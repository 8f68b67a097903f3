"""The MNIST facts every layer shares, in one place (no TensorFlow: the IDX validation imports it).

What ExampleGen writes per tf.train.Example, what the Trainer and the Evaluator read, what the
model takes and predicts, and the split names.
"""

IMAGE_KEY = 'image'  # 784 raw uint8 bytes, row-major, 0 = background
LABEL_KEY = 'label'  # int64 class 0..K-1 (the digits 0-9 for MNIST)
FILE_KEY = 'file'  # bytes: a picture's path in its folder (--dataset images, --infer-dir)
IMAGE_SIZE = 28  # images are IMAGE_SIZE x IMAGE_SIZE
NUM_CLASSES = 10  # MNIST's, and any IDX set's; a folder or CSV set brings its own count
TRAIN_SPLIT = 'train'  # MNIST's 60k training set
EVAL_SPLIT = 'eval'  # MNIST's 10k test set: the Evaluator's gate
INFER_SPLIT = 'infer'  # new pictures to label (--infer-dir): the BulkInferrer's
HISTORY_FILE = 'history.json'  # the Trainer's per-epoch metrics, in its ModelRun artifact
# The Trainer's custom_config key naming the classes of a data set whose classes come from the
# data (folded in by components/mnist_trainer.py as it starts; absent: the 10 digits).
CLASS_NAMES_CONFIG = 'class_names'
