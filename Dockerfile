# stockhold: a small production image. Two stages: `build` installs every dependency (the native
# better-sqlite3 module, the dashboard build with vite when present), `runtime` keeps only the
# production node_modules and the sources (run by tsx, no compile step), as a non-root user.
#
#   docker build -t stockhold .
#   docker run -p 3000:3000 -v stockhold-data:/data stockhold          # SQLite in /data
#   docker compose up                                                  # with PostgreSQL

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Toolchain only for the case where better-sqlite3 has no prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The dashboard (issue 8) builds static files when its script exists; then drop dev dependencies.
RUN mkdir -p dist \
 && npm run build:dashboard --if-present \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:/data/stockhold.db
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/src ./src
COPY --from=build --chown=root:root /app/dist ./dist
# The code is read-only for the service; only /data (the SQLite file) is writable.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form: node itself is PID 1 and receives SIGTERM directly (graceful shutdown, exit 0).
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=64", "bin/stockhold.mjs", "serve"]
