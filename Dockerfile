# synup's image: Node, synup, its prebuilt data-v1 LMDB binding and copy helper (prebuilds/), nothing else.
# Build: docker build --build-arg SYNUP_VERSION=$(node -p "require('./package.json').version") -t synup:$(node -p "require('./package.json').version") .
# The tag is synup's version (package.json); the Job synup creates uses service.kubernetes.volume.image.
# Without Docker Hub (an air-gapped site, the container lab): any Debian 12+ image with Node ≥ 20.19 and npm in
# /usr/local, and npm's cache from a machine that ran `npm ci` here, so that nothing is fetched:
#   docker build --build-arg NODE_IMAGE=<base> --build-context npm-cache="$(npm config get cache)" …
# (scripts/container-lab.sh makes such a base; test/containers/synup-image.test.ts builds with it). BuildKit only.
ARG NODE_IMAGE=node:22-bookworm-slim

# npm's cache for the build stage: empty unless --build-context npm-cache=<dir> names one (then npm ci reads it first).
FROM scratch AS npm-cache

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
# No install scripts: synup's binding is the prebuild in prebuilds/ (glibc ≥ 2.34: bookworm has 2.36), and lmdb's
# own install script would compile a data-v2 addon synup never loads. The cache is a writable copy (nothing kept).
RUN --mount=type=bind,from=npm-cache,target=/root/.npm,rw npm ci --ignore-scripts --prefer-offline --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@lmdb node_modules/msgpackr-extract

FROM ${NODE_IMAGE}
ARG SYNUP_VERSION
LABEL org.opencontainers.image.title="synup" org.opencontainers.image.version="${SYNUP_VERSION}" \
      org.opencontainers.image.description="Safe, guided upgrades of Vertex Synapse services"
ENV NODE_ENV=production SYNUP_HOME=/opt/synup
WORKDIR /opt/synup
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY prebuilds ./prebuilds
COPY changelogs ./changelogs
COPY docker/entrypoint.sh ./docker/entrypoint.sh
# Non-root by default (the image's `node` user, uid 1000). A volume Job runs as the uid that owns the cell's data:
# synup copies the workload's securityContext (runAsUser/runAsGroup/fsGroup) into the Job.
USER 1000:1000
ENTRYPOINT ["/opt/synup/docker/entrypoint.sh"]
CMD ["--help"]
