# One image for every service: the router and each subgraph differ only in
# the command and environment that docker-compose gives them. TypeScript runs
# through tsx (a runtime dependency), so there is no build stage: its ESM
# loader alone (`node --import tsx/esm`), as every service here is ESM. Its
# CommonJS hook would resolve every require() made while serving, and
# Apollo Server requires node:crypto on each request to hash the query.
FROM node:20-bookworm-slim

# tini runs as PID 1: it forwards `docker stop`'s SIGTERM to Node and reaps
# zombies. It is in the image rather than left to `docker run --init` or
# compose's `init: true`, so the image stops gracefully however it is run
# (Kubernetes has no such flag).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when the lockfile changes.
# patches/ holds fixes to dependencies that npm's postinstall applies (patch-package).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# The code stays owned by root and read-only to the service user. Only the
# embedded-PGlite data directory (used when no *_DATABASE_URL is set) is
# writable; tsx keeps its compile cache under /tmp.
RUN mkdir -p .data && chown node:node .data
USER node

EXPOSE 4000 4001 4002 4003 4004 4005
# Node directly, never through npm or a shell: npm does not pass SIGTERM on
# to its child and waits for it, so the service never hears `docker stop`
# and is killed at the grace period instead of draining
# (test/container-stop.e2e.test.ts runs this exact line). A subgraph's
# command is the same with `subgraphs/serve.ts <name>` (docker-compose.yml).
# The router's young generation is 64 MB per semi-space, not V8's 16: with
# many requests in flight, each holding its merged response tree, most young
# objects survive a scavenge, and fewer, larger scavenges cost less. Measured
# with `npm run bench` (heavy, 50 connections, rounds interleaved): 19 % less
# CPU per request.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=64", "--import", "tsx/esm", "router/src/main.ts"]
