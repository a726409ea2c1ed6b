#!/usr/bin/env bash
# Usage: scripts/container-lab.sh [up|env|down]
#
# The container lab of issue 20, from Debian's packages only: a Docker engine (Debian's docker.io, overlay2 or vfs, its own data
# root and socket under the lab dir), compose v2 (Debian 13's docker-compose, pinned at low priority), a registry on
# 127.0.0.1:5000 (Debian's docker-registry), a Debian base image made by debootstrap with the Synapse lab's Python
# packages and sources (../shared/synapse-lab), and one Synapse Cortex image per lab version pushed to the registry as
# 127.0.0.1:5000/vertexproject/synapse-cortex:v<version>; a Node base (the base with this machine's node and npm: the
# Dockerfile's NODE_IMAGE here) and Debian's systemd on it (run as PID 1 by test/containers/systemd-cortex.test.ts).
#
#   up    (default) make or reuse all of it; idempotent, every part cached (a stamp per part); prints what it did and
#         how long each part took, then the environment the container tests read (also written to $LAB/env).
#   env   print that environment (nothing started).
#   down  stop the registry and the engine this script started (the caches stay).
#
# One lab per machine, shared by every checkout (a second dockerd would fight over the docker0 bridge): the engine's
# socket and pid files in $RUN (/run/synup-container-lab), its data root, the registry's storage, the debootstrapped
# root and the logs in $SYNUP_LAB_CACHE (default /var/cache/synup-container-lab: kept between CI runs on a machine).
# This checkout's $SYNUP_CONTAINER_LAB (default <repo>/.container-lab, gitignored) gets only `env` and `bin/docker`.
# Needs root (apt-get, dockerd, debootstrap, chroot).
# Exits non-zero with the reason when a part cannot be made: CI then runs the container tests, which skip with it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LAB=${SYNUP_CONTAINER_LAB:-$REPO/.container-lab}
SYNLAB_SRC=${SYNUP_SYNAPSE_LAB_SRC:-}
VERSIONS=(2.180.0 2.242.0 2.250.0)
REGISTRY=127.0.0.1:5000
DOCKER=/usr/bin/docker          # Debian's CLI: another docker client may be first on PATH
CACHE=${SYNUP_LAB_CACHE:-/var/cache/synup-container-lab}
RUN=/run/synup-container-lab
SOCK=$RUN/docker.sock
SUITE=bookworm

say() { printf '[container-lab] %s\n' "$*" >&2; }
die() { printf '[container-lab] error: %s\n' "$*" >&2; exit 1; }
T0=$(date +%s.%N)
part() { # part NAME -- times the function NAME, prints what it did
  local name=$1 t; t=$(date +%s.%N)
  "$name"
  say "$(printf '%-13s %6.1f s  %s' "$name" "$(echo "$(date +%s.%N) - $t" | bc)" "$DID")"
}

write_env() {
  mkdir -p "$LAB/bin"
  # `env` builds nothing: the image names an earlier `up` wrote stay
  if [ -z "$NODE_IMAGE" ] && [ -f "$LAB/env" ]; then
    NODE_IMAGE=$(sed -n 's/^SYNUP_LAB_NODE_IMAGE=//p' "$LAB/env"); SYSTEMD_IMAGE=$(sed -n 's/^SYNUP_LAB_SYSTEMD_IMAGE=//p' "$LAB/env")
  fi
  ln -sfn "$DOCKER" "$LAB/bin/docker"
  cat > "$LAB/env" <<EOF
# written by scripts/container-lab.sh: source it, or read it (test/support/container-lab.ts does)
SYNUP_CONTAINER_LAB=$LAB
DOCKER_HOST=unix://$SOCK
SYNUP_LAB_DOCKER_BIN=$LAB/bin
SYNUP_LAB_REGISTRY=$REGISTRY
SYNUP_LAB_VERSIONS=${VERSIONS[*]}
SYNUP_LAB_NODE_IMAGE=$NODE_IMAGE
SYNUP_LAB_SYSTEMD_IMAGE=$SYSTEMD_IMAGE
EOF
}

# ---- packages ---------------------------------------------------------------------------------------------------
packages() {
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
  command -v bc >/dev/null || need+=(bc)
  local compose_ok=false
  if [ -x "$DOCKER" ] && [ -x /usr/sbin/dockerd ] && "$DOCKER" compose version 2>/dev/null | grep -q 'version v\?2\.'; then compose_ok=true; fi
  if [ ${#need[@]} -eq 0 ] && $compose_ok; then DID='all installed'; return; fi
  [ "$(id -u)" = 0 ] || die "not root: cannot apt-get install ${need[*]} docker-compose"
  if ! $compose_ok; then
    # Debian 12 packages compose v1 only; Debian 13's docker-compose (v2) installs from trixie at low priority.
    [ -f /etc/apt/sources.list.d/synup-trixie.sources ] || cat > /etc/apt/sources.list.d/synup-trixie.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    [ -f /etc/apt/preferences.d/synup-trixie ] || printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/synup-trixie
  fi
  apt-get update -qq || die 'apt-get update failed'
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#need[@]} -gt 0 ]; then apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"; fi
  # --no-install-recommends: docker.io recommends criu, whose python3-pycriu pulls Debian 13's python3 3.13 over 3.11
  # (the synapse lab's modules are built for 3.11).
  if ! $compose_ok; then apt-get install -y -qq --no-install-recommends -t trixie docker-compose docker.io >/dev/null || die 'apt-get install -t trixie docker-compose docker.io failed'; fi
  # The registry's own service is not wanted (no systemd here; this script runs it on loopback).
  DID="installed ${need[*]} $($compose_ok || echo 'docker-compose (trixie) docker.io')"
}

# ---- engine -----------------------------------------------------------------------------------------------------
engine_up() { DOCKER_HOST=unix://$SOCK timeout 5 "$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null; }
# overlay2 where the kernel lets this host mount overlayfs (container create/remove in ms); else vfs, which copies
# the whole image per container and per removal (minutes for a Synapse image on a loaded machine).
storage_driver() {
  if [ -n "${SYNUP_LAB_STORAGE_DRIVER:-}" ]; then echo "$SYNUP_LAB_STORAGE_DRIVER"; return; fi
  local d ok=vfs
  d=$(mktemp -d "$CACHE/.ovl.XXXXXX") && mkdir "$d/l" "$d/u" "$d/w" "$d/m" \
    && mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null && umount "$d/m" && ok=overlay2
  rm -rf "$d"; echo $ok
}
engine() {
  mkdir -p "$RUN/exec" "$CACHE"
  local v driver
  if v=$(engine_up); then DID="engine $v already running on $SOCK ($(DOCKER_HOST=unix://$SOCK "$DOCKER" info --format '{{.Driver}}'))"; return; fi
  driver=$(storage_driver)
  mkdir -p "$CACHE/docker-$driver"
  # A dockerd this script started earlier and that died: its pid file is stale.
  rm -f "$RUN/dockerd.pid" "$SOCK"
  setsid nohup /usr/sbin/dockerd --data-root "$CACHE/docker-$driver" --exec-root "$RUN/exec" --storage-driver "$driver" \
    --host "unix://$SOCK" --pidfile "$RUN/dockerd.pid" >"$CACHE/dockerd.log" 2>&1 < /dev/null 9>&- &
  for _ in $(seq 1 120); do
    if v=$(engine_up); then
      # Containers of test runs that were killed (their `restart:` policy would bring them back with the engine).
      local stale
      stale=$(DOCKER_HOST=unix://$SOCK "$DOCKER" ps -aq --filter name=synupct --filter name=synupbench --filter name=synupsd --filter name=synupimg)
      [ -z "$stale" ] || DOCKER_HOST=unix://$SOCK "$DOCKER" rm -f -v $stale >/dev/null 2>&1 || true
      # and the volumes of killed synup-image tests (named synupimg<pid>…; only those)
      local vols
      vols=$(DOCKER_HOST=unix://$SOCK "$DOCKER" volume ls -q --filter name=synupimg)
      [ -z "$vols" ] || DOCKER_HOST=unix://$SOCK "$DOCKER" volume rm -f $vols >/dev/null 2>&1 || true
      DID="started dockerd $v ($driver, $CACHE/docker-$driver, $SOCK)${stale:+; removed $(echo "$stale" | wc -l) leftover test container(s)}"
      return
    fi
    kill -0 $! 2>/dev/null || die "dockerd exited: $(tail -n 3 "$CACHE/dockerd.log")"
    sleep 0.5
  done
  die "dockerd did not answer in 60 s: $(tail -n 3 "$CACHE/dockerd.log")"
}

# ---- registry ---------------------------------------------------------------------------------------------------
registry_up() { curl -fsS -m 3 "http://$REGISTRY/v2/" >/dev/null 2>&1; }
registry() {
  if registry_up; then DID="registry already on $REGISTRY"; return; fi
  mkdir -p "$CACHE/registry"
  cat > "$CACHE/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $CACHE/registry}
  delete: {enabled: true}
http:
  addr: $REGISTRY
EOF
  setsid nohup /usr/bin/docker-registry serve "$CACHE/registry.yml" >"$CACHE/registry.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$RUN/registry.pid"
  for _ in $(seq 1 60); do
    if registry_up; then DID="started docker-registry on $REGISTRY ($CACHE/registry)"; return; fi
    kill -0 "$(cat "$RUN/registry.pid")" 2>/dev/null || die "docker-registry exited: $(tail -n 3 "$CACHE/registry.log")"
    sleep 0.5
  done
  die "docker-registry did not answer on $REGISTRY in 30 s"
}

# ---- base image -------------------------------------------------------------------------------------------------
# Debian packages Synapse needs (../shared/synapse-lab/setup.sh installs the same when python3 lacks them).
PYDEBS=python3,python3-msgpack,python3-xxhash,python3-tornado,python3-regex,python3-yaml,python3-aiohttp,python3-aiohttp-socks,python3-aiosmtplib,python3-prompt-toolkit,python3-lark,python3-pygments,python3-fastjsonschema,python3-packaging,python3-vcr,python3-base58,python3-bitcoinlib,python3-pycryptodome,python3-typing-extensions,python3-cbor2,python3-oauthlib,python3-idna,python3-dateutil,python3-tz,python3-bs4,python3-html5lib,xz-utils,ca-certificates
base_key() { { echo "$SUITE $PYDEBS"; sha256sum "$SYNLAB_SRC/synapse-lab.tar.xz" "$SYNLAB_SRC/setup.sh" | cut -d' ' -f1; } | sha256sum | cut -c1-12; }
BASE_IMAGE=
base() {
  local key root
  key=$(base_key)
  # the image adds, to the cached root: Vertex's uid/gid 999 and /vertex/storage owned by it (so the per-version
  # images need no RUN: with vfs every RUN copies the whole root)
  BASE_IMAGE=synup-lab/synapse-base:$key-2
  if DOCKER_HOST=unix://$SOCK "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then DID="$BASE_IMAGE cached"; return; fi
  root=$CACHE/rootfs-$key
  if [ ! -f "$root/.synup-ok" ]; then
    if [ ! -f "$root/.synup-debootstrap" ]; then
      rm -rf "$root" && mkdir -p "$root"
      debootstrap --variant=minbase "$SUITE" "$root" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
        || die "debootstrap failed: $(tail -n 3 "$CACHE/debootstrap.log")"
      touch "$root/.synup-debootstrap"
    fi
    # The Python packages (apt-get in the chroot: debootstrap's --include resolves no virtual packages), then the
    # Synapse lab (sources of every version, pylib) unpacked inside by its own setup.sh.
    mkdir -p "$root/opt/synapse-lab-src"
    cp "$SYNLAB_SRC/setup.sh" "$SYNLAB_SRC/synapse-lab.tar.xz" "$root/opt/synapse-lab-src/"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    local rc=0
    { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive /bin/bash -c \
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PYDEBS//,/ } >/dev/null && /bin/bash /opt/synapse-lab-src/setup.sh /opt/synapse"; } >"$CACHE/base-setup.log" 2>&1 || rc=$?
    umount "$root/proc"
    [ $rc = 0 ] || die "setup.sh in the base root failed: $(tail -n 5 "$CACHE/base-setup.log")"
    rm -rf "$root/opt/synapse-lab-src" "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    ln -sfn python3 "$root/usr/bin/python"
    touch "$root/.synup-ok"
  fi
  chroot "$root" /bin/sh -c 'getent group 999 >/dev/null || groupadd -g 999 synapse; getent passwd 999 >/dev/null || useradd -u 999 -g 999 -M -d /vertex -s /usr/sbin/nologin synapse 2>/dev/null; mkdir -p /vertex/storage && chown -R 999:999 /vertex' \
    || die "adding uid 999 to the base root failed"
  tar -C "$root" --exclude=./.synup-ok --exclude=./.synup-debootstrap --exclude='./proc/*' -c . | DOCKER_HOST=unix://$SOCK "$DOCKER" import - "$BASE_IMAGE" >/dev/null \
    || die "docker import of $root failed"
  DID="built $BASE_IMAGE (debootstrap $SUITE minbase + Synapse lab, $(du -sh "$root" | cut -f1))"
}

# ---- per-version images -----------------------------------------------------------------------------------------
# kind → server module
declare -A SERVERS=([cortex]=synapse.servers.cortex [aha]=synapse.servers.aha [axon]=synapse.servers.axon [jsonstor]=synapse.servers.jsonstor)
KINDS=(${SYNUP_LAB_KINDS:-cortex aha axon jsonstor})
images() {
  local built=() cached=() ctx kind v ref
  ctx=$(mktemp -d)
  for kind in "${KINDS[@]}"; do
    for v in "${VERSIONS[@]}"; do
      ref=$REGISTRY/vertexproject/synapse-$kind:v$v
      # In the registry with this base: nothing to do (the label names the base it was built on).
      if [ "$(DOCKER_HOST=unix://$SOCK "$DOCKER" image inspect --format '{{index .Config.Labels "synup.lab.base"}}' "$ref" 2>/dev/null)" = "$BASE_IMAGE" ] \
         && curl -fsS -m 5 -o /dev/null "http://$REGISTRY/v2/vertexproject/synapse-$kind/manifests/v$v" \
              -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'; then
        cached+=("$kind:$v"); continue
      fi
      # As Vertex's images: uid 999 (from the base), /vertex/storage, python on PATH, HEALTHCHECK Synapse's healthcheck (the module
      # every 2.x has: synapse.tools.healthcheck), the server as entrypoint.
      cat > "$ctx/Dockerfile" <<EOF
FROM $BASE_IMAGE
LABEL synup.lab.base="$BASE_IMAGE"
ENV PYTHONPATH=/opt/synapse/pylib:/opt/synapse/pylib-legacy:/opt/synapse/stubs:/opt/synapse/src-v$v SYN_LOG_LEVEL=INFO PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/synapse/src-v$v
USER 999
VOLUME /vertex/storage
EXPOSE 4443 27492
HEALTHCHECK --interval=10s --timeout=10s --retries=3 --start-period=10s CMD ["python", "-m", "synapse.tools.healthcheck", "-c", "cell:///vertex/storage/"]
ENTRYPOINT ["python", "-m", "${SERVERS[$kind]}", "/vertex/storage"]
EOF
      # metadata only on the base: BuildKit writes no layer (the legacy builder would copy the root per instruction)
      DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$ref" "$ctx" >>"$CACHE/build.log" 2>&1 || die "docker build of $ref failed: $(tail -n 3 "$CACHE/build.log")"
      DOCKER_HOST=unix://$SOCK "$DOCKER" push -q "$ref" >>"$CACHE/build.log" 2>&1 || die "docker push of $ref failed: $(tail -n 3 "$CACHE/build.log")"
      built+=("$kind:$v")
    done
  done
  rm -rf "$ctx"
  local kinds versions
  kinds=$(IFS=,; echo "${KINDS[*]}"); versions=$(IFS=,; echo "${VERSIONS[*]}")
  DID="${#built[@]} built and pushed${built:+ (${built[*]})}, ${#cached[@]} cached; $REGISTRY/vertexproject/synapse-{$kinds}:v{$versions}"
}

# ---- Node base (synup's own image, issue 20 part 4) --------------------------------------------------------------
# The Dockerfile's NODE_IMAGE for the lab (no Docker Hub here): the Synapse base with this machine's Node and npm
# copied in where the official node images keep them (/usr/local/bin/node, /usr/local/lib/node_modules/npm).
NODE_BIN=${SYNUP_LAB_NODE:-}
NODE_IMAGE=
nodebase() {
  [ -n "$NODE_BIN" ] || NODE_BIN=$(node -p process.execPath 2>/dev/null) || die 'node is not on PATH (set SYNUP_LAB_NODE to a Node 20+ binary)'
  local npmdir key ctx
  npmdir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd) || die 'npm is not on PATH'
  [ -f "$npmdir/package.json" ] || die "no npm package at $npmdir"
  key=$({ echo "$BASE_IMAGE"; sha256sum "$NODE_BIN" | cut -d' ' -f1; "$NODE_BIN" -p "require('$npmdir/package.json').version"; } | sha256sum | cut -c1-12)
  NODE_IMAGE=synup-lab/node-base:$key
  if DOCKER_HOST=unix://$SOCK "$DOCKER" image inspect "$NODE_IMAGE" >/dev/null 2>&1; then DID="$NODE_IMAGE cached"; return; fi
  ctx=$(mktemp -d)
  cp "$NODE_BIN" "$ctx/node" && cp -a "$npmdir" "$ctx/npm"
  cat > "$ctx/Dockerfile" <<EOF
FROM $BASE_IMAGE
LABEL synup.lab.base="$BASE_IMAGE"
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
EOF
  DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$NODE_IMAGE" "$ctx" >>"$CACHE/build.log" 2>&1 || { rm -rf "$ctx"; die "docker build of $NODE_IMAGE failed: $(tail -n 3 "$CACHE/build.log")"; }
  rm -rf "$ctx"
  DID="built $NODE_IMAGE (node $("$NODE_BIN" --version), npm from $npmdir)"
}

# ---- systemd image (issue 20 part 3) ----------------------------------------------------------------------------
# Debian's systemd on the Node base (Synapse's Python, /opt/synapse, uid 999, Node): run it privileged as PID 1 (see
# test/support/container-lab.ts) and a Synapse unit runs under a real systemd and journald. Only Debian 12 packages,
# --no-install-recommends; the image's python3 must stay the 3.11 the lab's modules are built for.
SYSTEMD_DEBS="systemd procps"
SYSTEMD_IMAGE=
systemd_image() {
  local key ctx
  key=$(echo "$NODE_IMAGE $SYSTEMD_DEBS 1" | sha256sum | cut -c1-12)
  SYSTEMD_IMAGE=synup-lab/systemd:$key
  if DOCKER_HOST=unix://$SOCK "$DOCKER" image inspect "$SYSTEMD_IMAGE" >/dev/null 2>&1; then DID="$SYSTEMD_IMAGE cached"; return; fi
  ctx=$(mktemp -d)
  # Units a container has no use for are masked (gettys, udev, logind, timers that would only add noise).
  cat > "$ctx/Dockerfile" <<EOF
FROM $NODE_IMAGE
LABEL synup.lab.base="$NODE_IMAGE"
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $SYSTEMD_DEBS >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 --version | grep -q '^Python 3\.11\.' \
 && systemctl mask getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service systemd-logind.service \
      systemd-firstboot.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
      dpkg-db-backup.timer systemd-tmpfiles-clean.timer >/dev/null 2>&1 \
 && echo synup-lab > /etc/hostname
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
EOF
  DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$SYSTEMD_IMAGE" "$ctx" >>"$CACHE/build.log" 2>&1 || { rm -rf "$ctx"; die "docker build of $SYSTEMD_IMAGE failed: $(tail -n 5 "$CACHE/build.log")"; }
  rm -rf "$ctx"
  local version
  version=$(DOCKER_HOST=unix://$SOCK "$DOCKER" run --rm --entrypoint dpkg-query "$SYSTEMD_IMAGE" -W -f '${Version}' systemd) || version='?'
  DID="built $SYSTEMD_IMAGE (Debian 12 systemd $version, procps)"
}

# ---- main -------------------------------------------------------------------------------------------------------
cmd=${1:-up}
case $cmd in
  env) write_env; cat "$LAB/env"; exit 0 ;;
  down)
    [ -f "$RUN/registry.pid" ] && kill "$(cat "$RUN/registry.pid")" 2>/dev/null || true
    [ -f "$RUN/dockerd.pid" ] && kill "$(cat "$RUN/dockerd.pid")" 2>/dev/null || true
    say "stopped the registry and dockerd (caches kept in $CACHE)"; exit 0 ;;
  up) ;;
  *) die "usage: container-lab.sh [up|env|down]" ;;
esac
[ "$(id -u)" = 0 ] || die 'needs root (apt-get, dockerd, debootstrap, chroot)'
if [ -z "$SYNLAB_SRC" ]; then
  for d in "$REPO/../shared/synapse-lab" /work/shared/synapse-lab; do [ -f "$d/synapse-lab.tar.xz" ] && { SYNLAB_SRC=$(cd "$d" && pwd); break; }; done
fi
[ -n "$SYNLAB_SRC" ] && [ -f "$SYNLAB_SRC/synapse-lab.tar.xz" ] || die 'the Synapse lab (../shared/synapse-lab) was not found; set SYNUP_SYNAPSE_LAB_SRC'
mkdir -p "$LAB"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
DID=
command -v bc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null; }
part packages
part engine
part registry
part base
part images
PY_BEFORE=$(/usr/bin/python3 --version 2>&1 || true)
part nodebase
part systemd_image
# The host's python3 is never touched (apt runs only inside the images).
[ "$(/usr/bin/python3 --version 2>&1 || true)" = "$PY_BEFORE" ] || die "the host's python3 changed: $PY_BEFORE -> $(/usr/bin/python3 --version 2>&1)"
write_env
say "$(printf 'ready in %.1f s; environment in %s:' "$(echo "$(date +%s.%N) - $T0" | bc)" "$LAB/env")"
cat "$LAB/env"
