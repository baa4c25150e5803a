# syntax=docker/dockerfile:1
# KFP components, the `ichigo` CLI (follower) and the MLflow server: CPU-only.
#   docker build -f docker/components.Dockerfile -t ghcr.io/ichigo-platform/components:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY ichigo ichigo
COPY components components
COPY pipelines pipelines
COPY serving serving
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim-bookworm
# espeak-ng + sox: the embedded TTS backend the CPU components use
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng sox \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
# constraints pin torch==2.13.0+cpu, which lives on the PyTorch CPU index
RUN pip install --no-cache-dir -c /tmp/constraints.txt \
      --extra-index-url https://download.pytorch.org/whl/cpu /wheels/*.whl \
    && rm -rf /wheels /tmp/constraints.txt
RUN groupadd -g 10001 ichigo && useradd -u 10001 -g 10001 -m -d /home/ichigo ichigo
USER 10001:10001
ENV HOME=/tmp PYTHONUNBUFFERED=1
ENTRYPOINT []
CMD ["ichigo", "--help"]
