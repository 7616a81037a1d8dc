#!/usr/bin/env bash
# make run: the operator in the foreground against the dev environment (Ctrl-C stops it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC1091
source "$dev_dir/env"
exec "$repo_root/build/bin/dbuser-operator" --kubeconfig "$KUBECONFIG" --listen 127.0.0.1:8080 "$@"
