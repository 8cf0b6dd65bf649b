#!/usr/bin/env bash
# Builds the jobsched image from the Dockerfile with buildah: no daemon and no registry. The base is a
# minimal Debian bookworm (python3, python3-venv, ca-certificates) made by debootstrap from the Debian
# mirror apt uses on this host, imported once and cached by its recipe; docs/image.md explains.
#
#   deploy/image/build.sh [build] [TAG]   build the image; TAG defaults to the image deploy/ runs
#   deploy/image/build.sh tag             print that default tag (newName:newTag in deploy/base)
#   deploy/image/build.sh buildah ARGS... buildah on the same storage (images, from, run, push, rmi ...)
#
# Environment: JOBSCHED_STORAGE_DRIVER (overlay or vfs; default overlay where this kernel mounts it),
# JOBSCHED_IMAGE_CACHE_MB (default 3072; past it the layer cache is pruned), JOBSCHED_DEBIAN_MIRROR
# (default: apt's bookworm mirror here, else debootstrap's own). The build's pip gets this host's pip
# index-url and cert (PIP_INDEX_URL, PIP_CERT or pip.conf); the CA file is mounted, never copied in.
# Needs root (debootstrap, mounts) and the Debian packages buildah and debootstrap.
set -euo pipefail
caller_dir=$PWD  # buildah's own relative paths (oci-archive:FILE, -v DIR:...) are the caller's
cd "$(dirname "$0")/../.."

suite=bookworm
packages=python3,python3-venv,ca-certificates
cache=${XDG_CACHE_HOME:-$HOME/.cache}/jobsched/images

default_tag() {
  awk '$1 == "newName:" {name = $2} $1 == "newTag:" {tag = $2} END {print name ":" tag}' \
    deploy/base/kustomization.yaml
}

storage_driver() {
  if [ -n "${JOBSCHED_STORAGE_DRIVER:-}" ]; then echo "$JOBSCHED_STORAGE_DRIVER"; return; fi
  # overlay shares layers instead of copying the whole tree per step (several times faster than vfs),
  # but needs root and a kernel that mounts overlayfs on the cache's filesystem: try one mount.
  local probe driver=vfs
  mkdir -p "$cache"
  probe=$(mktemp -d "$cache/overlay-probe.XXXXXX")
  mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if [ "$(id -u)" -eq 0 ] && mount -t overlay overlay \
    -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"
    driver=overlay
  fi
  rm -rf "$probe"
  echo "$driver"
}

buildah_here() {
  BUILDAH_ISOLATION=chroot buildah --root "$cache/storage-$driver" \
    --runroot "${XDG_RUNTIME_DIR:-/run}/jobsched-images/$driver" --storage-driver "$driver" "$@"
}

pip_setting() {
  # $1: a pip option (index-url, cert) as this host's pip has it (environment or pip.conf), or nothing.
  python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | head -n 1
}

make_base() {
  # $1: the tag to commit. A minbase root filesystem without apt's lists, .debs, docs or locales.
  local ctr mnt mirror
  mirror=${JOBSCHED_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ] && command -v apt-get >/dev/null; then
    # shellcheck disable=SC2016  # $(REPO_URI) is apt's field name, not a shell expansion
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' "Codename: $suite" \
      'Origin: Debian' | head -n 1)
  fi
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")  # global: the EXIT trap removes it, whatever happens
  trap 'rm -rf --one-file-system "$rootfs" "$rootfs.log"' EXIT
  echo "== base: debootstrap $suite ($packages) from ${mirror:-the default mirror of debootstrap}"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" ${mirror:+"$mirror"} \
    >"$rootfs.log" 2>&1; then
    tail -n 20 "$rootfs.log" >&2
    return 1
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  ctr=$(buildah_here from scratch)
  mnt=$(buildah_here mount "$ctr")
  tar -C "$rootfs" -cf - . | tar -C "$mnt" -xpf -
  buildah_here umount "$ctr" >/dev/null
  buildah_here config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd '["python3"]' "$ctr"
  buildah_here commit --quiet --rm "$ctr" "$1" >/dev/null
}

build() {
  local tag=${1:-$(default_tag)} key base
  # The base is keyed by its recipe: editing make_base or the package list makes a new one.
  key=$( { declare -f make_base; echo "$suite $packages"; } | sha256sum | cut -c1-12)
  base=localhost/jobsched-base:$suite-$key
  if ! buildah_here inspect --type image "$base" >/dev/null 2>&1; then
    make_base "$base"
  fi
  local args=(--layers --force-rm --pull=never --build-arg "BASE_IMAGE=$base" --tag "$tag") index cert
  index=$(pip_setting index-url)
  cert=$(pip_setting cert)
  [ -z "$index" ] || args+=(--build-arg "PIP_INDEX_URL=$index")
  [ -z "$cert" ] || args+=(--volume "$cert:/run/pip-cert.pem:ro" --build-arg PIP_CERT=/run/pip-cert.pem)
  echo "== image: $tag from $base ($driver storage in $cache/storage-$driver)"
  # Each code change leaves ~100 MB of untagged layers (a whole tree per layer with vfs): past the
  # limit, drop them all; this build then redoes its dependency layer once.
  local used limit=${JOBSCHED_IMAGE_CACHE_MB:-3072}
  used=$(du -sm "$cache/storage-$driver" | cut -f1)
  if [ "$used" -gt "$limit" ]; then
    echo "== cache: $used MB > $limit MB (JOBSCHED_IMAGE_CACHE_MB): dropping untagged images"
    buildah_here rmi --prune >/dev/null
  fi
  buildah_here bud "${args[@]}" .
}

case ${1:-build} in
  tag) default_tag ;;
  buildah) driver=$(storage_driver); shift; cd "$caller_dir"; buildah_here "$@" ;;
  build) driver=$(storage_driver); shift || true; build "$@" ;;
  *) driver=$(storage_driver); build "$@" ;;
esac
