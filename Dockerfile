# One image for every service: the router and each subgraph differ only in
# the command and environment that docker-compose (or deploy/k8s) gives
# them. Two stages: the first installs every dependency and builds the
# JavaScript (`npm run build`, scripts/build.ts), the second holds only the
# production dependencies and what the build wrote. The services start with
# plain `node`; no TypeScript loader, compiler or other dev tooling is in
# the image.

# Node 24, the current LTS. The code also runs on Node 20 (CI tests both).
FROM node:24-bookworm-slim AS build

WORKDIR /app
# patches/ holds fixes to dependencies that npm's postinstall applies (patch-package).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-bookworm-slim

# tini runs as PID 1: it forwards `docker stop`'s SIGTERM to Node and reaps
# zombies. It is in the image rather than left to `docker run --init` or
# compose's `init: true`, so the image stops gracefully however it is run
# (Kubernetes has no such flag).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# NODE_COMPILE_CACHE: Node 22+ keeps the compiled code of the modules it
# loads there, so a container's later starts skip compiling them again:
# 7-12 % sooner ready, where a new container's first start is 2-16 % later
# for writing it (npm run bench:start, docs/benchmarks.md). On Kubernetes,
# /tmp is an emptyDir that outlives a container's restart (deploy/k8s).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NODE_COMPILE_CACHE=/tmp/node-compile-cache \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when the lockfile changes.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# dist/ is laid out as the repository is (router/src/main.js beside schema/,
# subgraphs/orders/migrations/ beside subgraphs/orders/src/): copied over
# /app, every path a service finds beside its own modules holds here too.
COPY --from=build /app/dist ./

# The code stays owned by root and read-only to the service user. Only the
# embedded-PGlite data directory (used when no *_DATABASE_URL is set) is
# writable, besides /tmp.
RUN mkdir -p .data && chown node:node .data
USER node

EXPOSE 4000 4001 4002 4003 4004 4005
# Node directly, never through npm or a shell: npm does not pass SIGTERM on
# to its child and waits for it, so the service never hears `docker stop`
# and is killed at the grace period instead of draining
# (test/container-stop.e2e.test.ts builds and runs this exact line). A
# subgraph's command is `node subgraphs/serve.js <name>`
# (docker-compose.yml); migrations run with `node scripts/db.js migrate`.
# The router's young generation is 64 MB per semi-space, not V8's 16: with
# many requests in flight, each holding its merged response tree, most young
# objects survive a scavenge, and fewer, larger scavenges cost less. Measured
# with `npm run bench` (heavy, 50 connections, rounds interleaved): 19 % less
# CPU per request.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=64", "router/src/main.js"]
