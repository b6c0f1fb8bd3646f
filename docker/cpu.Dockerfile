# edgeyolo torch-free runtime for x86-64 CPUs: predict, bench, select, report, compare with ONNX Runtime and
# OpenVINO (IR, CPU plugin), the runtimes of the x86-cpu profile. No PyTorch, no Ultralytics, no compiler.
#
#   make docker-cpu                  (or, from the repository root:)
#   docker build -f docker/cpu.Dockerfile -t edgeyolo:cpu .
#   docker run --rm -v "$PWD:/work" edgeyolo:cpu predict artifacts/yolo26n-320-onnx-fp32 images/ --out preds
#
# NCNN (the Raspberry Pi's runtime, in the rpi image) is one build argument away (425 MB instead of 396 MB,
# with glibc's libmvec, which it links); without it, an NCNN artifact fails with a one-line "ncnn runtime
# needs" error:
#   RUNTIMES="onnxruntime openvino ncnn" make docker-cpu
#   docker build --build-arg RUNTIMES="onnxruntime openvino ncnn" -f docker/cpu.Dockerfile -t edgeyolo:cpu .
#
# The image holds no Debian userland: the build stage installs the venv, slims it (docker/slim.sh) and puts it
# in a root filesystem with only what it needs to run (docker/rootfs.py: the Python interpreter, its standard
# library as bytecode, /bin/sh, the shared libraries that the interpreter and the extension modules link, the
# account files); the final stage is that root alone, on `scratch`.
#
# Build arguments: BASE (any Debian-based image with python3 3.11, its venv module and apt), RUNTIMES (the
# runtime packages to install, named in the image's description label; fewer makes a smaller image, `ncnn`
# adds NCNN), VERSION/REVISION/SOURCE (OCI labels).
ARG BASE=python:3.11.13-slim-bookworm
ARG RUNTIMES="onnxruntime openvino"

FROM ${BASE} AS build
ARG RUNTIMES
# binutils: strip (this stage only).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py MANIFEST.in README.md /src/
COPY profiles /src/profiles
COPY edgeyolo /src/edgeyolo
COPY docker/constraints.txt docker/slim.sh docker/rootfs.py /src/docker/
# Export-time packages (onnx, onnxslim, nncf and its SciPy/pandas/scikit-learn) are left out on purpose: the
# extras `onnx` and `openvino` also serve export, and a device image only runs artifacts. pip and setuptools
# go too: nothing is installed at run time. The last steps run the assembled root's own Python (chroot) to
# import OpenCV, matplotlib's SVG writer with what it takes from the trimmed fontTools, and every runtime, so a
# library or module missing from it fails the build (ONNX Runtime warns there that it cannot read
# /proc/cpuinfo: a chroot has no /proc).
RUN python3 -m venv /opt/edgeyolo \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/edgeyolo/bin/pip install --no-cache-dir --quiet --only-binary=:all: \
      -c /src/docker/constraints.txt /src ${RUNTIMES} \
 && /opt/edgeyolo/bin/python -m pip uninstall --quiet --yes pip setuptools \
 && sp=$(/opt/edgeyolo/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && STRIP=strip sh /src/docker/slim.sh "$sp" "$sp" \
 && find /opt/edgeyolo/bin -mindepth 1 ! -name edgeyolo ! -name 'python*' -delete \
 && mkdir -p /rootfs/opt /skel \
 && mv /opt/edgeyolo /rootfs/opt/edgeyolo \
 && python3 /src/docker/rootfs.py assemble / /rootfs \
 && chroot /rootfs /opt/edgeyolo/bin/edgeyolo --version \
 && chroot /rootfs /opt/edgeyolo/bin/python -c "import cv2, numpy, matplotlib.backends.backend_svg, matplotlib.textpath, edgeyolo.predict" \
 && for m in ${RUNTIMES}; do chroot /rootfs /opt/edgeyolo/bin/python -c "import $m" || exit 1; done

FROM scratch
ARG RUNTIMES
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="edgeyolo-cpu" \
      org.opencontainers.image.description="edgeyolo torch-free runtime for x86-64 (runtimes: ${RUNTIMES})" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-only"
COPY --from=build /rootfs /
COPY --from=build --chown=1000:1000 /skel /home/edgeyolo
COPY --from=build --chown=1000:1000 /skel /work
ENV PATH=/opt/edgeyolo/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    EDGEYOLO_MISSING_RUNTIME_HINT="this image has no pip and holds the runtimes ${RUNTIMES}: rebuild it with --build-arg RUNTIMES='${RUNTIMES} <runtime package>' (docker/ in the edgeyolo repository)"
USER edgeyolo
WORKDIR /work
VOLUME /work
ENTRYPOINT ["edgeyolo"]
CMD ["--help"]
