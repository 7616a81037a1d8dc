#!/usr/bin/env bash
# The README's first command: the dev environment is up (make demo depends on dev-up).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
log "the dev environment is up: . $dev_dir/env; kubectl get pguser; psql"
log "the reconciler is not built yet: this demo grows into the full quick start with it"
log "stop everything with: make dev-down"
