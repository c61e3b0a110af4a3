# The image the Helm chart (helm/mei-cdn) runs: mei-origin, mei-cache-node, mei-placement, meictl
# and mei-get in /usr/local/bin on Debian 12, as user 10001, with curl and jq for the chart's
# placement job. Build from the repository root:
#
#   docker build -t mei-cdn:0.1.0 .
#
# The build stage uses the project's own scripts: scripts/setup installs the build packages and
# scripts/build compiles without the tests. The runtime stage holds the shared libraries the
# binaries link and nothing else of the build; tests/helm (ctest -R HelmImagePackages) checks that
# its package list covers every library the built binaries need.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup && rm -rf /var/lib/apt/lists/*
COPY . .
RUN MEI_BUILD_DIR=/build scripts/build -DMEI_BUILD_TESTS=OFF \
 && mkdir -p /out \
 && install -s -m 0755 \
      /build/origin/mei-origin \
      /build/cache-node/mei-cache-node \
      /build/placement/mei-placement \
      /build/tools/ctl/meictl \
      /build/tools/get/mei-get \
      /out/

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librocksdb7.8 libboost-json1.81.0 libzstd1 libxxhash0 libfmt9 libglpk40 libssl3 \
      libstdc++6 libgcc-s1 \
      ca-certificates curl jq \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mei \
 && useradd --system --uid 10001 --gid mei --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin mei \
 && mkdir -p /data \
 && chown mei:mei /data
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /data
# Data planes of the origin and of a cache node, then their admin APIs (the chart's defaults).
EXPOSE 8088 8090 9088 9090
CMD ["mei-cache-node", "--help"]
