# Upperstack: the pipeline on embedded defaults, data in /data.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY tsconfig.json settings.ts ./
COPY nodes ./nodes
COPY flows ./flows
COPY proto ./proto
COPY schemas ./schemas
COPY resources ./resources
COPY test ./test
COPY bench ./bench
# The compiled tests and benchmarks are for a checkout, not the image (package.json "files" leaves them out too).
# node-red is a devDependency (a user's own Node-RED brings it), but the image runs it: after pruning, it goes back in
# at the version package-lock.json pins, as a production package for this install only (--no-save), so the lock's
# versions of its dependencies are kept and no development package returns.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev \
  && NODE_RED=$(node -p "require('./package-lock.json').packages['node_modules/node-red'].version") \
  && npm install --no-save --save-prod --omit=dev --no-audit --no-fund "node-red@$NODE_RED" \
  && rm -rf dist/test dist/bench

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    UPPERSTACK_DATA=/data \
    UPPERSTACK_BIND=0.0.0.0 \
    UPPERSTACK_HTTP_PORT=1880 \
    UPPERSTACK_MQTT_PORT=1883 \
    UPPERSTACK_COAP_PORT=5683
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/flows ./flows
COPY --from=build /app/examples ./examples
COPY --from=build /app/proto ./proto
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/resources ./resources
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 1880 1883 5683/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/scripts/healthcheck.js"]
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=50", "dist/scripts/start.js"]
