#!/usr/bin/env bash
# Makes the two base images deploy/Dockerfile starts from, debian:bookworm and
# debian:bookworm-slim, from Debian packages with mmdebstrap (no registry is reachable from the
# development machines), and commits them into buildah's storage under the names the Dockerfile
# uses, so `buildah bud --pull=false` finds them. Cached: an image is made again only when this
# script changes (its hash is the image's label) or the image is missing.
#
#   DBUSER_BUILDAH_ROOT  buildah's storage (default ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/containers)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image-lib.sh"

key=$(sha256sum "$0" | cut -c1-16)
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security

make_base() { # name extra-mmdebstrap-args...
  local name=$1; shift
  if [ "$(bah inspect --type image --format '{{index .ImageAnnotations "dbuser.base-key"}}' \
      "$name" 2>/dev/null)" = "$key" ]; then
    log "$name: cached ($key)"
    return
  fi
  log "$name: making it with mmdebstrap (first time only)"
  local work tar ctr
  work=$(mktemp -d)
  tar=$work/rootfs.tar
  # minbase: Essential + apt, as the Docker images are; the sources of the official images.
  mmdebstrap --quiet --variant=minbase --format=tar "$@" \
    --customize-hook='rm -f "$1"/etc/apt/sources.list' \
    --customize-hook="printf 'Types: deb\nURIs: $mirror\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: $security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > \"\$1\"/etc/apt/sources.list.d/debian.sources" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tar" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
  ctr=$(bah from scratch)
  bah add "$ctr" "$tar" / >/dev/null
  bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --annotation "dbuser.base-key=$key" "$ctr"
  bah commit --quiet --rm "$ctr" "$name" >/dev/null
  rm -rf "$work"
  log "$name: $(bah images --format '{{.Size}}' "$name")"
}

make_base docker.io/library/debian:bookworm
# slim: what debian:*-slim leaves out (documentation, man pages, locales).
make_base docker.io/library/debian:bookworm-slim \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*'
