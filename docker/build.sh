#!/usr/bin/env bash
# Build one of edgeyolo's images with whichever engine is present (podman, buildah or docker).
#
#   docker/build.sh cpu|rpi|train|jetson [extra engine flags...]
#
# Tags edgeyolo:NAME and edgeyolo:NAME-VERSION and prints the first. The OCI labels get the package version,
# the git commit and the git remote.
#
# Environment:
#   ENGINE      podman, buildah or docker (default: the first found, in that order)
#   BASE        base image (default: the Dockerfile's, an official image with a pinned tag)
#   BUILD_BASE  rpi only: base of the stage that runs on the build machine
#   LOCAL_BASE  1: make BASE (and BUILD_BASE) from Debian's packages with docker/make-base.sh, for machines
#               that reach Debian's mirrors and PyPI but no image registry (cpu and rpi only)
#   RUNTIMES    cpu/rpi: runtime packages to install (default: cpu "onnxruntime openvino", the x86-cpu
#               profile's; rpi "onnxruntime openvino ncnn"); RUNTIMES="onnxruntime openvino ncnn" adds NCNN
#               to cpu
#   PIP_CERT    a CA bundle for pip inside the build (a proxy that re-signs TLS); podman/buildah only
#   TAG         image name (default: edgeyolo:NAME)
set -euo pipefail

name=${1:?usage: $0 cpu|rpi|train|jetson [engine flags...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
file=$here/$name.Dockerfile
[[ -f $file ]] || { echo "no $file; images: cpu, rpi, train, jetson" >&2; exit 2; }

if [[ -z ${ENGINE:-} ]]; then
  ENGINE=$(command -v podman || command -v buildah || command -v docker || true)
  [[ -n $ENGINE ]] || { echo "no container engine: install podman, buildah or docker" >&2; exit 1; }
fi
engine=$(basename "$ENGINE")
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/edgeyolo/_version.py")
tag=${TAG:-edgeyolo:$name}

args=(--build-arg "VERSION=$version"
      --build-arg "REVISION=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
      --build-arg "SOURCE=$(git -C "$repo" remote get-url origin 2>/dev/null || echo unknown)")
[[ -n ${RUNTIMES:-} ]] && args+=(--build-arg "RUNTIMES=$RUNTIMES")

if [[ ${LOCAL_BASE:-0} == 1 ]]; then
  case $name in
    cpu) BASE=$(ENGINE=$ENGINE "$here/make-base.sh" amd64) ;;
    rpi) BASE=$(ENGINE=$ENGINE "$here/make-base.sh" arm64)
         BUILD_BASE=$(ENGINE=$ENGINE "$here/make-base.sh" "$(dpkg --print-architecture 2>/dev/null || echo amd64)") ;;
    *) echo "LOCAL_BASE=1 makes Debian bases for cpu and rpi only; $name needs its NVIDIA base image" >&2; exit 2 ;;
  esac
fi
[[ -n ${BASE:-} ]] && args+=(--build-arg "BASE=$BASE")
[[ -n ${BUILD_BASE:-} ]] && args+=(--build-arg "BUILD_BASE=$BUILD_BASE")

# rpi: no --platform; its Dockerfile names the platform of each stage (arm64 target, build machine for the rest).
case $name in
  cpu | train) args+=(--platform linux/amd64) ;;
  jetson) args+=(--platform linux/arm64) ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case $engine in
  podman | buildah)
    # Older buildah (1.28, Debian 12) leaves BUILDPLATFORM empty, and an empty `FROM --platform=` then takes
    # the previous stage's platform: name the build machine's platform.
    args+=(--ignorefile "$here/.dockerignore"
           --build-arg "BUILDPLATFORM=linux/$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')")
    if [[ -n ${PIP_CERT:-} ]]; then
      printf '[global]\ncert = /etc/edgeyolo-build-ca.crt\n' >"$tmp/pip.conf"
      args+=(-v "$PIP_CERT:/etc/edgeyolo-build-ca.crt:ro" -v "$tmp/pip.conf:/etc/pip.conf:ro")
    fi
    ;;
esac
case $engine in
  buildah) cmd=(buildah bud --pull=false) ;;  # --pull=false: local images first (the bases made here)
  podman) cmd=(podman build) ;;
  docker) cmd=(docker build) ;;
  *) echo "unknown engine '$ENGINE'" >&2; exit 1 ;;
esac
image_id() {
  case $engine in
    buildah) buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true ;;
    *) "$ENGINE" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true ;;
  esac
}
old=$(image_id "$tag")
[[ $engine == buildah ]] && before=$(buildah containers --quiet --notruncate | sort)
"${cmd[@]}" "${args[@]}" "$@" -f "$file" -t "$tag" -t "$tag-$version" "$repo" >&2
# buildah 1.28 leaves the working container of a stage used only by COPY --from (rpi's arm64 `target`).
if [[ $engine == buildah ]]; then
  comm -13 <(echo "$before") <(buildah containers --quiet --notruncate | sort) | xargs -r buildah rm >/dev/null
fi
# The image these tags named before is left untagged by a rebuild: remove it (refused while still in use),
# unless another tag still names it (removing by ID would drop that tag too).
if [[ -n $old && $old != "$(image_id "$tag")" ]] \
  && "$ENGINE" images --quiet --no-trunc --filter dangling=true 2>/dev/null | grep -q "${old#sha256:}"; then
  case $engine in buildah) buildah rmi "$old" ;; *) "$ENGINE" rmi "$old" ;; esac >/dev/null 2>&1 || true
fi
echo "$tag"
