# edgeyolo torch-free runtime for x86-64 CPUs: predict, bench, select, report, compare with ONNX Runtime,
# OpenVINO (IR, CPU plugin) and NCNN. No PyTorch, no Ultralytics, no compiler.
#
#   make docker-cpu                  (or, from the repository root:)
#   docker build -f docker/cpu.Dockerfile -t edgeyolo:cpu .
#   docker run --rm -v "$PWD:/work" edgeyolo:cpu predict artifacts/yolo26n-320-onnx-fp32 images/ --out preds
#
# Build arguments: BASE (any Debian-based image with python3 3.11 and its venv module), RUNTIMES (the runtime
# packages to install; fewer makes a smaller image), VERSION/REVISION/SOURCE (OCI labels).
ARG BASE=python:3.11.13-slim-bookworm

FROM ${BASE} AS build
ARG RUNTIMES="onnxruntime openvino ncnn"
COPY pyproject.toml setup.py MANIFEST.in README.md /src/
COPY profiles /src/profiles
COPY edgeyolo /src/edgeyolo
COPY docker/constraints.txt docker/slim.sh /src/docker/
# Export-time packages (onnx, onnxslim, nncf and its SciPy/pandas/scikit-learn) are left out on purpose: the
# extras `onnx` and `openvino` also serve export, and a device image only runs artifacts. pip and setuptools
# go too: nothing is installed at run time.
RUN python3 -m venv /opt/edgeyolo \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --only-binary=:all: \
      -c /src/docker/constraints.txt /src ${RUNTIMES} \
 && sh /src/docker/slim.sh "$(/opt/edgeyolo/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && /opt/edgeyolo/bin/python -m pip uninstall --quiet --yes pip setuptools \
 && /opt/edgeyolo/bin/edgeyolo --version

FROM ${BASE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="edgeyolo-cpu" \
      org.opencontainers.image.description="edgeyolo torch-free runtime for x86-64 (ONNX Runtime, OpenVINO, NCNN)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
RUN useradd --create-home --uid 1000 --user-group edgeyolo \
 && mkdir /work && chown edgeyolo:edgeyolo /work
COPY --from=build /opt/edgeyolo /opt/edgeyolo
ENV PATH=/opt/edgeyolo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
USER edgeyolo
WORKDIR /work
VOLUME /work
ENTRYPOINT ["edgeyolo"]
CMD ["--help"]
