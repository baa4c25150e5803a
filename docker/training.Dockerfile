# syntax=docker/dockerfile:1
# Training image for the Kubeflow Trainer runtime `ichigo-torch-distributed` (torchrun, NCCL).
#   docker build -f docker/training.Dockerfile -t ghcr.io/ichigo-platform/training:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY ichigo ichigo
COPY components components
COPY pipelines pipelines
COPY serving serving
RUN pip wheel --no-cache-dir --no-deps -w /wheels . \
    # the base image brings CUDA torch 2.13.0; keep every other pin, drop the CPU torch pin
    && grep -v '^torch==' constraints.txt > /wheels/constraints-cuda.txt

FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir -c /wheels/constraints-cuda.txt /wheels/*.whl \
    && python -c "import torch, torchtune; assert torch.__version__.startswith('2.13.0')" \
    && rm -rf /wheels
RUN groupadd -g 10001 ichigo && useradd -u 10001 -g 10001 -m -d /home/ichigo ichigo
USER 10001:10001
ENV HOME=/tmp PYTHONUNBUFFERED=1
# the TrainJob supplies the command (torchrun ... -m ichigo.train ...)
CMD ["python", "-c", "import ichigo; print('ichigo training image')"]
