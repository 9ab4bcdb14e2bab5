"""CUDA checks, run only where a GPU is visible (pytest -m gpu)."""

import pytest
import torch

from conftest import write_imdb_archive
from project import Project
from reprolab.batches import BagBatches
from reprolab.models import OneHotMLP
from reprolab.train import loss_function
from test_models import NUM_FEATURES, random_bags

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


@pytest.mark.parametrize("mode", ["embedding_bag", "dense"])
@pytest.mark.parametrize("head", ["bce", "ce"])
def test_cuda_forward_backward_match_cpu(mode, head):
    torch.manual_seed(0)
    cpu_model = OneHotMLP(NUM_FEATURES, 16, head, mode)
    cuda_model = OneHotMLP(NUM_FEATURES, 16, head, mode).cuda()
    cuda_model.load_state_dict(cpu_model.state_dict())
    bags = random_bags(64)
    criterion = loss_function(head)
    for model, device in ((cpu_model, "cpu"), (cuda_model, "cuda")):
        ids, offsets, labels = next(iter(BagBatches(bags, 64, torch.device(device))))
        criterion(model(ids, offsets), labels).backward()
    for p_cpu, p_cuda in zip(cpu_model.parameters(), cuda_model.parameters(), strict=True):
        torch.testing.assert_close(p_cuda.grad.cpu(), p_cpu.grad, rtol=1e-4, atol=1e-6)


def test_pipeline_on_cuda(tmp_path):
    project = Project(tmp_path / "repo")
    project.use_archive(write_imdb_archive(tmp_path / "a.tar.gz"))
    project.set_params(imdb__vocab_size=8, train_imdb__epochs=1, train_imdb__batch_size=2, train_imdb__device="cuda")
    project.repro()
    assert project.json("timings/train_imdb.json")["device"] == "cuda"
