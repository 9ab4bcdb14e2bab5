# reprolab in a CUDA container: build once, then `docker run --gpus all ... reprolab` runs `dvc repro`
# on the repository mounted at /work/repo (see README, "Container").
#
# The base image's torch must equal the pin in requirements.txt (tests/test_dockerfile.py checks
# the tag). It needs an NVIDIA driver that supports CUDA 13.0 (>= 580 on Linux).
FROM pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime

# DVC drives git: git must exist, and a bind-mounted repo owned by another uid must be trusted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

# The image's own interpreter (conda, not PEP 668-managed) already holds torch==2.14.1 and
# torchvision==0.29.1, so pip keeps them and adds only the rest of the pinned requirements.
COPY requirements.txt /tmp/requirements.txt
RUN python -m pip install --no-cache-dir -r /tmp/requirements.txt \
    && python -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"

ARG UID=1000
RUN useradd --create-home --uid "${UID}" reprolab
USER ${UID}

# The mounted repository's own code is what runs, never a copy baked into the image.
ENV PYTHONPATH=/work/repo/src \
    PYTHONUNBUFFERED=1 \
    DVC_NO_ANALYTICS=1
WORKDIR /work/repo

ENTRYPOINT ["dvc"]
CMD ["repro"]
