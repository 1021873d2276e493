#!/bin/sh
# Make the local base image that stands in for python:3.11-slim when no Docker daemon answers:
# a Debian bookworm minbase root file system from debootstrap, with Debian's python3 (3.11) and venv,
# committed with buildah. Made once; later calls find the image in buildah's storage and return.
#   sh scripts/image-base.sh [IMAGE]      (default localhost/storefront-edge-base:bookworm)
# DEBIAN_MIRROR overrides debootstrap's default mirror.
set -eu
image="${1:-localhost/storefront-edge-base:bookworm}"
if buildah inspect --type image "$image" >/dev/null 2>&1; then
  exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/storefront-edge-base.XXXXXX")"
ctr=""
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
echo "making base image $image with debootstrap (once)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$work/root" ${DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
ctr="$(buildah from scratch)"
mnt="$(buildah mount "$ctr")"
cp -a "$work/root/." "$mnt/"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd python3 "$ctr"
buildah commit --quiet "$ctr" "$image" >/dev/null
echo "base image $image ready" >&2
