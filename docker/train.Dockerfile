# edgeyolo for training and export on NVIDIA GPUs (CUDA 13, single GPU or DDP): train, tune, export to
# ONNX/OpenVINO/NCNN (TensorRT engines are built on the device that runs them: see jetson.Dockerfile), and
# everything the runtime images do.
#
#   make docker-train                (or, from the repository root:)
#   docker build -f docker/train.Dockerfile -t edgeyolo:train .
#   docker run --rm --gpus all --ipc=host -v "$PWD:/work" edgeyolo:train \
#       train --profile rpi5 --data datasets/d/data.yaml --device 0,1 --out runs/train
#
# DDP starts one process per GPU that exchange tensors through shared memory: run with --ipc=host, or with
# --shm-size=16g where the host's IPC namespace may not be shared (Docker's default /dev/shm is 64 MB and
# dataloader workers and NCCL fail on it). The host needs the NVIDIA driver >= 580 (CUDA 13) and the NVIDIA
# Container Toolkit.
#
# PyTorch is the build the project pins (Makefile TORCH): its wheels carry their own CUDA libraries, so the
# CUDA `base` image (driver compatibility only, no toolkit, no compiler) is enough. Ubuntu 24.04's python3 is
# 3.12. Build arguments: BASE, TORCH, EXTRAS, VERSION/REVISION/SOURCE (OCI labels).
ARG BASE=nvidia/cuda:13.0.1-base-ubuntu24.04

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py MANIFEST.in README.md /src/
COPY profiles /src/profiles
COPY edgeyolo /src/edgeyolo
RUN python3 -m venv /opt/pip \
 && /opt/pip/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/pip/bin/pip wheel --no-cache-dir --quiet --no-deps --wheel-dir /dist /src

FROM ${BASE}
ARG TORCH="torch==2.14.1 torchvision==0.29.1"
ARG EXTRAS="train,onnx,openvino,ncnn"
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="edgeyolo-train" \
      org.opencontainers.image.description="edgeyolo training and export on NVIDIA GPUs (PyTorch, Ultralytics, CUDA 13)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
COPY --from=build /dist /tmp/dist
# Ubuntu 24.04 images have a user `ubuntu` with uid 1000; edgeyolo takes that uid so files written to a mounted
# folder belong to the usual first user of the host.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 -m venv /opt/edgeyolo \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet ${TORCH} "$(ls /tmp/dist/edgeyolo-*.whl)[${EXTRAS}]" \
 && rm -rf /tmp/dist \
 && /opt/edgeyolo/bin/edgeyolo --version \
 && (userdel --remove ubuntu 2>/dev/null || true) \
 && useradd --create-home --uid 1000 --user-group edgeyolo \
 && mkdir /work && chown edgeyolo:edgeyolo /work
ENV PATH=/opt/edgeyolo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
USER edgeyolo
WORKDIR /work
VOLUME /work
ENTRYPOINT ["edgeyolo"]
CMD ["--help"]
