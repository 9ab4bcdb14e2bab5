"""Speed studies: DataLoader and per-step measurements, the GPU path, and the course's code to compare."""
