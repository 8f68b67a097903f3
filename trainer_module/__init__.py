"""Trainer code for the MNIST pipeline: the seed CNN, its input pipeline, strategies and export."""

import os

# The seed's own example inputs (tensorflow/models official/mnist), shipped with the code.
SEED_EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'seed_examples')
SEED_EXAMPLES_NPY = os.path.join(SEED_EXAMPLES_DIR, 'examples.npy')
