# Shared by the image scripts (sourced): buildah on the project's own storage, never the
# machine's /var/lib/containers.
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator
buildah_root=${DBUSER_BUILDAH_ROOT:-$cache_root/containers}
bah() {
  buildah --root "$buildah_root/storage" --runroot "$buildah_root/run" --storage-driver overlay "$@"
}
