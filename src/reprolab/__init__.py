"""reprolab: the course's PyTorch experiments as a reproducible DVC pipeline."""

__version__ = "0.1.0"
