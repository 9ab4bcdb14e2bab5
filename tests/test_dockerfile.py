"""The container, checked without a Docker daemon: lint, and agreement with the pinned requirements."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import torchvision

from project import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def pins() -> dict[str, str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(keyword + " ")]


def test_hadolint_passes():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint not installed (pip install -r requirements-dev.txt)"
    result = subprocess.run([hadolint, "Dockerfile"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_torch_and_cuda_match_the_pins():
    (image,) = instructions("FROM")
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda(\d+\.\d+)-cudnn\d+-runtime", image)
    assert match, f"base image {image} is not a pinned official PyTorch runtime tag"
    torch_version, cuda_version = match.groups()
    assert torch_version == pins()["torch"]
    assert torch.__version__.split("+")[0] == pins()["torch"]
    assert torchvision.__version__.split("+")[0] == pins()["torchvision"]
    assert torch.version.cuda == cuda_version, "the image's CUDA differs from the pinned wheel's"


def test_requirements_come_from_the_pinned_file():
    assert "requirements.txt /tmp/requirements.txt" in instructions("COPY")
    assert any("pip install --no-cache-dir -r /tmp/requirements.txt" in run for run in instructions("RUN"))


def test_runs_dvc_repro_as_a_non_root_user_in_a_trusted_repo():
    assert instructions("ENTRYPOINT") == ['["dvc"]'] and instructions("CMD") == ['["repro"]']
    assert instructions("USER") and instructions("USER")[-1] not in ("root", "0")
    assert "safe.directory" in DOCKERFILE


def test_build_context_leaves_out_data_models_and_caches():
    patterns = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert patterns == ["*", "!requirements.txt"]
