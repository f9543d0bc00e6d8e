#!/bin/sh
# The CPU image's base, made here because no registry may be reachable: Debian 12 (minbase)
# with Debian's Python 3.11, CA certificates (the orchestrator's CronJobs call HTTPS APIs) and uv
# (BentoML's generated Dockerfile creates the virtualenv and installs the packages with it).
# One layer: no compilers, apt lists, package cache, manuals or translations.
# Usage: deploy/base-image.sh IMAGE PYTHON UV_SPEC
#   PYTHON: a Python whose pip fetches uv (the host's pip settings apply); UV_SPEC: e.g. uv==0.9.5
set -eu
image=$1 python=$2 uv_spec=$3
root=$(mktemp -d "${TMPDIR:-/tmp}/premarket-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3.11,ca-certificates bookworm "$root" \
	"${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
"$python" -m pip install -q --no-deps --target "$root/tmp/uv" "$uv_spec"
mv "$root/tmp/uv/bin/uv" "$root/usr/local/bin/uv"
rm -rf "$root/tmp/uv" "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image"
