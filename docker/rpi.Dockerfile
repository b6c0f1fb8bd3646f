# edgeyolo torch-free runtime for Raspberry Pi 4/5 (arm64): predict, bench, select, report, compare with ONNX
# Runtime, OpenVINO (IR, ARM CPU plugin) and NCNN. No PyTorch, no Ultralytics, no compiler.
#
# Cross-built without emulation: the `wheels` stage runs on the build machine's own platform and has pip fetch
# the aarch64 wheels for CPython 3.11 (binary wheels only, so nothing is compiled) into a folder, slims them
# (docker/slim.sh, with the cross binutils' strip) and assembles the image's root filesystem from them and
# from files of the arm64 base (docker/rootfs.py: the interpreter, its standard library as bytecode, /bin/sh,
# the shared libraries the ELF files need, read from their headers, and the account files). Nothing arm64 is
# executed: the arm64 stages have no RUN, so an x86 laptop builds it without qemu or binfmt_misc. The image
# holds no Debian userland: the final stage is that root alone, on `scratch`.
#
#   make docker-rpi                  (or, from the repository root:)
#   docker build --platform linux/arm64 -f docker/rpi.Dockerfile -t edgeyolo:rpi .
#   docker run --rm -v "$PWD:/work" edgeyolo:rpi predict artifacts/yolo26n-320-ncnn-fp32 images/ --out preds
#
# Build arguments: BASE (arm64 image with python3 3.11), BUILD_BASE (image for the build machine's platform with
# python3 3.11, its venv module and apt), RUNTIMES, VERSION/REVISION/SOURCE (OCI labels).
ARG BASE=python:3.11.13-slim-bookworm
ARG BUILD_BASE=python:3.11.13-slim-bookworm
ARG RUNTIMES="onnxruntime openvino ncnn"

FROM --platform=linux/arm64 ${BASE} AS target

FROM --platform=$BUILDPLATFORM ${BUILD_BASE} AS wheels
ARG RUNTIMES
# The aarch64 strip of binutils (this stage only; on an arm64 build machine it is the native one).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils-aarch64-linux-gnu \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py MANIFEST.in README.md /src/
COPY profiles /src/profiles
COPY edgeyolo /src/edgeyolo
COPY docker/constraints.txt docker/slim.sh docker/rootfs.py docker/launcher.py /src/docker/
# The arm64 base's root, read here (never run): the interpreter, its standard library, the shared libraries and
# the account files come from it.
COPY --from=target / /target/
# glibc 2.36 (bookworm): every manylinux tag up to 2.35 that a wheel here uses. pip installs the target's
# wheels into the image's site-packages; slim.sh and rootfs.py compile the modules with this stage's Python
# (bytecode depends on the Python version only, which is why both bases must be 3.11).
RUN python3 -m venv /opt/pip \
 && /opt/pip/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/pip/bin/pip wheel --no-cache-dir --quiet --no-deps --wheel-dir /src/dist /src \
 && /opt/pip/bin/pip install --no-cache-dir --quiet --only-binary=:all: --target /rootfs/opt/edgeyolo/site-packages \
      --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
      --platform manylinux_2_35_aarch64 --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
      --platform manylinux_2_27_aarch64 --platform manylinux_2_24_aarch64 --platform manylinux_2_17_aarch64 \
      --platform manylinux2014_aarch64 --platform linux_aarch64 \
      -c /src/docker/constraints.txt /src/dist/edgeyolo-*.whl ${RUNTIMES} \
 && rm -rf /rootfs/opt/edgeyolo/site-packages/bin \
 && STRIP=aarch64-linux-gnu-strip sh /src/docker/slim.sh /rootfs/opt/edgeyolo/site-packages /opt/edgeyolo/site-packages \
 && install -D -m 0755 /src/docker/launcher.py /rootfs/usr/local/bin/edgeyolo \
 && python3 /src/docker/rootfs.py assemble /target /rootfs \
 && mkdir /skel

FROM --platform=linux/arm64 scratch
ARG RUNTIMES
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="edgeyolo-rpi" \
      org.opencontainers.image.description="edgeyolo torch-free runtime for Raspberry Pi 4/5, arm64 (ONNX Runtime, OpenVINO, NCNN)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
COPY --from=wheels /rootfs /
COPY --from=wheels --chown=1000:1000 /skel /home/edgeyolo
COPY --from=wheels --chown=1000:1000 /skel /work
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    PYTHONPATH=/opt/edgeyolo/site-packages \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    EDGEYOLO_MISSING_RUNTIME_HINT="this image has no pip and holds the runtimes ${RUNTIMES}: rebuild it with --build-arg RUNTIMES='${RUNTIMES} <runtime package>' (docker/ in the edgeyolo repository)"
USER edgeyolo
WORKDIR /work
VOLUME /work
ENTRYPOINT ["edgeyolo"]
CMD ["--help"]
