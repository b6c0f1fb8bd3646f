# edgeyolo for NVIDIA Jetson Orin (JetPack 6, L4T r36): predict and bench TensorRT engines (and ONNX on the
# CPU) with the TensorRT of the base image; no PyTorch. Run it with the NVIDIA runtime, which maps the Jetson's
# GPU, drivers and TensorRT libraries into the container:
#
#   docker run --rm --runtime nvidia -v "$PWD:/work" edgeyolo:jetson \
#       bench --profile jetson-orin-nano artifacts/yolo26n-320-tensorrt-fp16 --data data/data.yaml
#
# A TensorRT engine is specific to the GPU and TensorRT version that built it: build engines on the Jetson
# (`edgeyolo export` in the train image on an x86 GPU builds engines for that GPU only).
#
# Build it on the Jetson (`make docker-jetson`; the RUN steps are arm64 code), or elsewhere with an arm64
# builder. The base's Python is 3.10 and its TensorRT Python bindings (python3-libnvinfer) are seen through a
# venv with --system-site-packages. Build arguments: BASE (an L4T r36 image with TensorRT), VERSION/REVISION/SOURCE.
ARG BASE=nvcr.io/nvidia/l4t-jetpack:r36.4.0

FROM ${BASE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="edgeyolo-jetson" \
      org.opencontainers.image.description="edgeyolo runtime for Jetson Orin, JetPack 6 (TensorRT from L4T r36, ONNX Runtime)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
COPY pyproject.toml setup.py MANIFEST.in README.md /tmp/src/
COPY profiles /tmp/src/profiles
COPY edgeyolo /tmp/src/edgeyolo
COPY docker/jetson-constraints.txt /tmp/src/docker/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 -c "import tensorrt; print('TensorRT', tensorrt.__version__)" \
 && python3 -m venv --system-site-packages /opt/edgeyolo \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --only-binary=:all: \
      -c /tmp/src/docker/jetson-constraints.txt /tmp/src onnxruntime cuda-python \
 && rm -rf /tmp/src \
 && /opt/edgeyolo/bin/python -c "import tensorrt, cuda, edgeyolo.runtime.tensorrt" \
 && useradd --create-home --uid 1000 --user-group --groups video edgeyolo \
 && mkdir /work && chown edgeyolo:edgeyolo /work
ENV PATH=/opt/edgeyolo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
USER edgeyolo
WORKDIR /work
VOLUME /work
ENTRYPOINT ["edgeyolo"]
CMD ["--help"]
