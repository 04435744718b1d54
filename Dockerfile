# One image for every service: the router and each subgraph differ only in
# the command and environment that docker-compose gives them. TypeScript runs
# through tsx (a runtime dependency), so there is no build stage.
FROM node:20-bookworm-slim

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
CMD ["npm", "run", "start:router"]
