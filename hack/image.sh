#!/usr/bin/env bash
# `make image`: builds the operator's image from deploy/Dockerfile without a container daemon and
# loads it into the dev cluster's containerd (when hack/cluster-up.sh started one).
#
#   1. base images debian:bookworm and debian:bookworm-slim from Debian packages (image-base.sh);
#   2. the sandbox ("pause") image the dev containerd is configured with: a static pause binary
#      built from hack/pause/pause.c (no registry is reachable here);
#   3. the operator image: `buildah bud --isolation chroot --layers --pull=false` of deploy/Dockerfile
#      over the files git knows (tracked, and untracked but not ignored: no build/ or .dev/).
#
# Cached by content: an image's key is a hash of everything that goes into it; an image whose key
# is unchanged is neither rebuilt nor exported again, and is imported into containerd only when
# containerd does not have it yet. Archives live in ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/images.
#
#   IMAGE            the operator image's name (default docker.io/library/dbuser-operator:0.1.0,
#                    which is what deploy/manager's `dbuser-operator:0.1.0` means to the kubelet)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image-lib.sh"

image=${IMAGE:-docker.io/library/dbuser-operator:0.1.0}
pause_image=docker.io/library/dbuser-pause:3.10
archive_dir=$cache_root/images
mkdir -p "$archive_dir"

"$repo_root/hack/image-base.sh"
base_key=$(sha256sum "$repo_root/hack/image-base.sh" | cut -c1-16)

# build_archive NAME KEY FUNCTION: runs FUNCTION (which commits NAME in buildah's storage) unless
# the archive for KEY exists; prints the archive's path.
build_archive() {
  local name=$1 key=$2 fn=$3 tag=${1##*/}
  local archive=$archive_dir/${tag%%:*}-$key.tar
  if [ -s "$archive" ]; then
    log "$name: cached ($key)"
  else
    local start=$SECONDS
    "$fn" "$name"
    bah push --quiet "$name" "docker-archive:$archive.tmp:$name" >/dev/null
    mv "$archive.tmp" "$archive"
    # Older archives of this image are of no further use.
    find "$archive_dir" -name "${tag%%:*}-*.tar" ! -name "${tag%%:*}-$key.tar" -delete
    log "$name: built in $((SECONDS - start)) s"
  fi
  echo "$archive"
}

build_pause() {
  local work ctr
  work=$(mktemp -d)
  gcc -static -Os -Wall -Wextra -Werror -o "$work/pause" "$repo_root/hack/pause/pause.c"
  strip "$work/pause"
  ctr=$(bah from scratch)
  bah copy "$ctr" "$work/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  bah commit --quiet --rm "$ctr" "$1" >/dev/null
  rm -rf "$work"
}

# The build context: the files git knows (tracked, or untracked and not ignored: never build/ or
# .dev/), copied into a directory of their own, without what the image's build does not read
# (tests, benchmark, scripts, manifests, documentation), so that changing those rebuilds nothing.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
(cd "$repo_root" && git ls-files -z --cached --others --exclude-standard \
  | grep -zv -E '^(test|bench|hack|\.ci)/|^deploy/[^D]|\.md$|^(Makefile|\.[^/]*)$' \
  | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf -) | tar -xf - -C "$context"
operator_key=$( (cd "$context" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum;
  echo "$base_key") | sha256sum | cut -c1-16)

build_operator() {
  bah bud --quiet --isolation chroot --layers --pull=false \
    --build-arg CMAKE_BUILD_PARALLEL_LEVEL="${IMAGE_JOBS:-2}" \
    -f "$context/deploy/Dockerfile" -t "$1" "$context" >/dev/null
}

pause_archive=$(build_archive "$pause_image" "$(sha256sum "$repo_root/hack/pause/pause.c" | cut -c1-16)" build_pause)
operator_archive=$(build_archive "$image" "$operator_key" build_operator)
log "$image: $(bah images --format '{{.Size}}' "$image") ($(du -h "$operator_archive" | cut -f1) archive)"

# --- into the dev cluster's containerd ----------------------------------------------------------
sock=$dev_dir/cluster/containerd/containerd.sock
if [ ! -S "$sock" ]; then
  log "no dev cluster running (make cluster-up): images built, not loaded"
  exit 0
fi
load() { # archive name
  local stamp=$dev_dir/cluster/images/$(basename "$1")
  if [ -e "$stamp" ] && ctr -a "$sock" -n k8s.io images check "name==$2" 2>/dev/null | grep -q complete; then
    return
  fi
  ctr -a "$sock" -n k8s.io images import "$1" >/dev/null
  mkdir -p "$dev_dir/cluster/images"
  rm -f "$dev_dir/cluster/images/${2##*/}"* 2>/dev/null || true
  touch "$stamp"
  log "$2: loaded into containerd"
}
load "$pause_archive" "$pause_image"
load "$operator_archive" "$image"
