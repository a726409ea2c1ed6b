#!/usr/bin/env bash
# Nightly upgrade rehearsal: the newest backup of a cell, verified, restored into scratch, booted at the target
# Synapse version until its migrations finish; JUnit/Markdown/JSON reports. Used by github-actions-rehearse.yml and
# gitlab-ci-rehearse.yml: copy this file and synup.yaml into your repository's ci/ directory.
#
#   TARGET          the Synapse version to rehearse (required)
#   SYNUP_PACKAGE   what npm installs: synup's release tarball (the offline bundle, e.g. ./synup-0.1.0.tgz) or synup@0.1.0
#   BACKUPS         where `synup backup` writes (default /backups); CELL: the cell's name (default cortex00)
#   SYNAPSE_PREFIX  Synapse versions live in $SYNAPSE_PREFIX-<version> (default /opt/synapse), as ci/synup.yaml says
#   REHEARSAL_PORT  HTTPS port of the scratch service (default: health.port + 1)
set -euo pipefail
: "${TARGET:?set TARGET to the Synapse version to rehearse}"
: "${SYNUP_PACKAGE:?set SYNUP_PACKAGE to the release tarball of synup or to synup@VERSION}"
BACKUPS=${BACKUPS:-/backups}
CELL=${CELL:-cortex00}
SYNAPSE_PREFIX=${SYNAPSE_PREFIX:-/opt/synapse}
CONFIG=ci/synup.yaml

# synup, into the workspace (no root needed; the tarball installs offline, needs no compiler).
npm install --global --prefix "$PWD/.synup" --no-audit --no-fund "$SYNUP_PACKAGE"
export PATH="$PWD/.synup/bin:$PATH"
synup --version

# The target Synapse, in its own virtualenv, where ci/synup.yaml's service command runs it.
if [ ! -x "$SYNAPSE_PREFIX-$TARGET/bin/python" ]; then
  python3 -m venv "$SYNAPSE_PREFIX-$TARGET"
  "$SYNAPSE_PREFIX-$TARGET/bin/python" -m pip install --quiet "synapse==$TARGET"
fi

# The target's changelog when it is newer than synup's built-in one (air-gapped: pass --changelog instead).
synup -c "$CONFIG" changelog update --to "$TARGET"

BACKUP=$(find "$BACKUPS" -mindepth 1 -maxdepth 1 -type d -name "${CELL}_*" | sort | tail -n 1)
[ -n "$BACKUP" ] || { echo "no backup of $CELL in $BACKUPS" >&2; exit 1; }
synup -c "$CONFIG" verify "$BACKUP"
synup -c "$CONFIG" rehearse --backup "$BACKUP" --to "$TARGET" ${REHEARSAL_PORT:+--port "$REHEARSAL_PORT"} \
  --report rehearsal.junit.xml --summary rehearsal.md --json > rehearsal.json
