#!/bin/sh
# synup's container entrypoint. In a Kubernetes Job synup creates: `volume-job <op> …` with SYNUP_CELL_DIR the
# mountPath of the cell's PVC (and SYNUP_BACKUP_DIR the backup PVC's); in CI: any synup command.
# SYNUP_HOME is where synup is installed (the image: /opt/synup; tests run this script from a checkout).
set -eu
SYNUP_HOME="${SYNUP_HOME:-/opt/synup}"
if [ "${1:-}" = "volume-job" ]; then
  if [ -z "${SYNUP_CELL_DIR:-}" ] || [ ! -d "${SYNUP_CELL_DIR}" ]; then
    # The result line synup reads back, so a mount mistake is reported like any other volume-job failure.
    printf '{"synupVolumeJob":1,"op":"%s","ok":false,"error":{"code":"usage","message":"SYNUP_CELL_DIR (%s) is not a mounted directory","hint":"check the Job'"'"'s volumeMounts"}}\n' "${2:-}" "${SYNUP_CELL_DIR:-unset}"
    exit 2
  fi
fi
exec node "${SYNUP_HOME}/bin/synup.js" "$@"
