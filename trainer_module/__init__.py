"""Trainer code for the MNIST pipeline: the seed CNN, its input pipeline, strategies and export."""
