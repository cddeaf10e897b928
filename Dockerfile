# flotilla for users who can reach an image registry:
#   docker build -t flotilla:local .
# (Offline, as on the development and CI machines, scripts/build-image.sh
# builds an equivalent image with `docker import`.) The image runs one node:
#   docker run -v /var/run/docker.sock:/var/run/docker.sock -v flotilla:/data flotilla:local init --advertise-addr HOST
# docker-compose.test.yml uses its /app/bin/compose-entrypoint.sh.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.web.json ./
COPY proto ./proto
COPY scripts/gen-api.js scripts/build-web.js ./scripts/
COPY src ./src
# The web console's browser modules (dist/src/console/web) are built too, as `npm run build` does.
RUN node scripts/gen-api.js && npx tsc -p tsconfig.json && node scripts/build-web.js && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production FLOTILLA_DATA_DIR=/data
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY proto ./proto
COPY bin ./bin
RUN chmod 0755 bin/flotilla.js bin/compose-entrypoint.sh \
 && ln -s /app/bin/flotilla.js /usr/local/bin/flotilla \
 && mkdir -p /data
VOLUME /data
EXPOSE 4242
ENTRYPOINT ["/usr/local/bin/node", "/app/bin/flotilla.js"]
CMD ["help"]
