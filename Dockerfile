# syntax=docker/dockerfile:1
# One image for every Vigil process (api, worker, streamer, migrate): the workspace with its
# dependencies installed, and each service bundled by `pnpm build` into services/<name>/dist/main.mjs,
# which `pnpm --filter @vigil/<name> start` runs with plain node (no TypeScript loader at run time).
#   docker build --build-arg SERVICE=worker -t vigil-worker .
# SERVICE picks the default command; `docker run ... pnpm vigil migrate` (or compose's
# `command:`) overrides it.
FROM node:20-bookworm-slim

# pnpm 10 from npm. Version switching off: the global pnpm must never download another pnpm
# at run time (the packageManager field would otherwise trigger it), and no update checks.
RUN npm i -g pnpm@10 && npm cache clean --force
ENV npm_config_manage_package_manager_versions=false \
    npm_config_update_notifier=false

WORKDIR /app

# Manifests first so the dependency layer is rebuilt only when they change.
# Every workspace package must be listed here (infra/test/compose.test.ts checks it).
COPY package.json pnpm-workspace.yaml pnpm-lock.yaml ./
COPY packages/cli/package.json packages/cli/
COPY packages/devstack/package.json packages/devstack/
COPY packages/sdk/package.json packages/sdk/
COPY packages/shared/package.json packages/shared/
COPY packages/testkit/package.json packages/testkit/
COPY packages/verify/package.json packages/verify/
COPY services/api/package.json services/api/
COPY services/streamer/package.json services/streamer/
COPY services/worker/package.json services/worker/
# tsx (the CLI: `pnpm vigil migrate`, `pnpm build`) is a devDependency, hence --prod=false.
RUN --mount=type=cache,id=vigil-pnpm-store,target=/pnpm-store \
    pnpm install --frozen-lockfile --prod=false --store-dir /pnpm-store

COPY . .
RUN pnpm build

# Files stay root-owned and read-only to the app; it runs unprivileged.
ENV NODE_ENV=production \
    HOST=0.0.0.0
USER node

ARG SERVICE=api
ENV VIGIL_SERVICE=${SERVICE}
EXPOSE 8080 8081 8082
CMD ["sh", "-c", "exec pnpm --filter \"@vigil/${VIGIL_SERVICE}\" start"]
