"""Shared machinery: params, atomic writes, the stage CLI, devices, engines, batches, recording."""
