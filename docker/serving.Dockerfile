# syntax=docker/dockerfile:1
# Ray Serve image for the RayService head and GPU workers (import path serving.app:build_app).
#   docker build -f docker/serving.Dockerfile -t ghcr.io/ichigo-platform/serving:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY ichigo ichigo
COPY components components
COPY pipelines pipelines
COPY serving serving
RUN pip wheel --no-cache-dir --no-deps -w /wheels . \
    && grep -v '^torch==' constraints.txt > /wheels/constraints-cuda.txt

FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir -c /wheels/constraints-cuda.txt /wheels/*.whl \
    && python -c "import ray, serving; assert ray.__version__ == '2.60.0'" \
    && rm -rf /wheels
RUN groupadd -g 10001 ichigo && useradd -u 10001 -g 10001 -m -d /home/ichigo ichigo
USER 10001:10001
# Ray writes sessions, logs and the auth token under /tmp (an emptyDir in the pod)
ENV HOME=/tmp PYTHONUNBUFFERED=1
WORKDIR /tmp
# KubeRay generates the `ray start` command; this is for local runs
CMD ["ray", "start", "--head", "--block", "--dashboard-host=0.0.0.0"]
