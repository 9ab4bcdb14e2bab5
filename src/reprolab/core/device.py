"""Device choice, seeding and determinism switches."""

import os
import random

import numpy as np
import torch

from reprolab.core.errors import UserError


def resolve_device(name: str, param: str) -> torch.device:
    """auto -> cuda if present else cpu; cuda without a GPU is a UserError naming the param."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(f"params.yaml: {param} is 'cuda' but no CUDA GPU is visible to PyTorch; use 'auto' or 'cpu'")
    device = torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")
    if name == "auto":
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(f"device: auto chose {device.type} ({label})")
    return device


def seed_everything(seed: int, deterministic: bool) -> torch.Generator:
    """Seed Python, NumPy and torch; optionally force deterministic kernels. Returns a CPU generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # torch.use_deterministic_algorithms also imports the Inductor compiler to set its flag (about 900 modules);
        # reprolab compiles nothing, so it sets the kernels' switch alone, where this torch has it
        setter = getattr(torch._C, "_set_deterministic_algorithms", None)
        if setter:
            setter(True, warn_only=False)
        else:
            torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return torch.Generator().manual_seed(seed)


def device_info(device: torch.device) -> dict:
    """What ran the job, for timing files."""
    info = {"device": device.type, "torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
