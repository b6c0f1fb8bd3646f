#!/usr/bin/env bash
# Make a local stand-in for the official `python:3.11-slim-bookworm` image from Debian's packages alone, for
# machines that reach Debian's mirrors and PyPI but no image registry. Debian bookworm's python3 is 3.11, the
# Python the pinned wheels are built for.
#
#   docker/make-base.sh amd64|arm64     prints the image name to pass as BASE / BUILD_BASE
#
# amd64: a plain debootstrap (its second stage runs natively). arm64: the first stage only
# (`--foreign`), then every downloaded package unpacked (`dpkg-deb`): nothing arm64 is executed,
# so no emulator and no binfmt_misc handler is needed. Either way the root is cleaned like Debian's
# slim images (no docs, man pages, locales, apt lists or caches), the standard library is byte-compiled,
# and the tarball is cached under $EDGEYOLO_DOCKER_CACHE (default ~/.cache/edgeyolo-docker), keyed by
# the suite, architecture, package list and the steps below that make the root, so a rerun only imports it
# (seconds), or does nothing when the image already comes from that tarball.
#
# Environment: ENGINE (podman, buildah or docker; default: the first found), DEBIAN_MIRROR.
set -euo pipefail

arch=${1:?usage: $0 amd64|arm64}
case $arch in amd64 | arm64) ;; *) echo "unknown architecture '$arch'; use amd64 or arm64" >&2; exit 2 ;; esac
suite=bookworm
packages=python3,python3-venv  # as in python:3.11-slim: no libgomp1, no compiler
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${EDGEYOLO_DOCKER_CACHE:-$HOME/.cache/edgeyolo-docker}
# The cache key: suite, architecture, packages and the steps that make the root (between the markers).
key=$( (printf '%s\n' "$suite" "$arch" "$packages"; sed -n '/^# root: begin/,/^# root: end/p' "$0") | sha256sum | cut -c1-12)
tarball=$cache/base-$suite-$arch-$key.tar
image=localhost/edgeyolo-base:$suite-python3.11-$arch

if [[ -z ${ENGINE:-} ]]; then
  ENGINE=$(command -v podman || command -v buildah || command -v docker || true)
  [[ -n $ENGINE ]] || { echo "no container engine: install podman, buildah or docker" >&2; exit 1; }
fi

# root: begin
if [[ ! -f $tarball ]]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed: apt-get install debootstrap" >&2; exit 1; }
  [[ $(id -u) == 0 ]] || { echo "debootstrap needs root" >&2; exit 1; }
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/root-$arch.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  if [[ $arch == $(dpkg --print-architecture) ]]; then
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
  else
    debootstrap --foreign --arch="$arch" --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
    # --keep-directory-symlink: /bin, /lib, /sbin stay links into /usr (merged /usr, as on Debian's images).
    for deb in "$root"/var/cache/apt/archives/*.deb; do
      dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
    done
    # What base-passwd's and passwd's maintainer scripts would have made.
    cp "$root"/usr/share/base-passwd/passwd.master "$root"/etc/passwd
    cp "$root"/usr/share/base-passwd/group.master "$root"/etc/group
    rm -rf "$root"/debootstrap
  fi
  # Like Debian's slim images: no documentation, manuals, translations, package lists or caches.
  find "$root"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/*
  printf 'deb %s %s main\n' "$mirror" "$suite" >"$root"/etc/apt/sources.list
  # Byte-compile the standard library as Debian's postinst (py3compile) does; the bytecode is the same on
  # every architecture for one Python version, so the build machine's python3.11 may write it.
  py=$(command -v python3.11 || true)
  if [[ -n $py ]]; then
    "$py" -m compileall -q -j0 -x 'lib2to3/tests|test/' "$root"/usr/lib/python3.11 >/dev/null 2>&1 || true
  fi
  tar --numeric-owner -C "$root" -cf "$tarball.part" .
  rm -f "$cache"/base-$suite-$arch-*.tar  # roots made by an older version of this script
  mv "$tarball.part" "$tarball"
fi
# root: end

# Already imported from this tarball: nothing to do.
engine=$(basename "$ENGINE")
label=org.edgeyolo.base-key
case $engine in
  buildah) have=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$label\"}}" "$image" 2>/dev/null || true) ;;
  *) have=$("$ENGINE" image inspect --format "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true) ;;
esac
if [[ $have == "$key" ]]; then echo "$image"; exit 0; fi

case $engine in
  buildah)
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$tarball" / >/dev/null
    buildah config --os linux --arch "$arch" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd python3 --label "$label=$key" \
      --label org.opencontainers.image.description="Debian $suite + python3 (edgeyolo local base)" "$ctr"
    buildah commit --quiet --rm "$ctr" "$image" >/dev/null
    ;;
  podman) podman import --quiet --arch "$arch" --change 'CMD ["python3"]' --change "LABEL $label=$key" \
            "$tarball" "$image" >/dev/null ;;
  docker) docker import --platform "linux/$arch" --change 'CMD ["python3"]' --change "LABEL $label=$key" \
            "$tarball" "$image" >/dev/null ;;
  *) echo "unknown engine '$ENGINE'" >&2; exit 1 ;;
esac
echo "$image"
