# kube-job-launcher: `kjl start` on Node.js 24.
#   docker build -t kube-job-launcher .
#   docker run --read-only --tmpfs /tmp -e KJL_SQS_QUEUE_URL=… -e KJL_REDIS_URL=… kube-job-launcher
# The runtime stage runs as a non-root user and writes nothing outside /tmp: a read-only root
# filesystem works. test/deploy/dockerfile.test.ts lints this file and runs its runtime stage
# outside Docker (its production install, its entrypoint under a read-only root, its healthcheck).

# Build: compile TypeScript with the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies only, the compiled code and the Job templates.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOME=/tmp \
    KJL_HTTP_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY templates ./templates
COPY --from=build /src/dist ./dist
RUN chmod 0755 /app/dist/cli/main.js \
    && ln -s /app/dist/cli/main.js /usr/local/bin/kjl \
    && groupadd --gid 10001 kjl \
    && useradd --uid 10001 --gid kjl --home-dir /tmp --no-create-home --shell /usr/sbin/nologin kjl
USER 10001:10001
EXPOSE 8080
# 3 failures 10 s apart before unhealthy (no --start-period: dockerfilelint 1.8 misreads it).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.KJL_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js", "start"]
