# syntax=docker/dockerfile:1
# OAG (OMRA AI Gateway): multi-stage build on Debian 12 (bookworm).
#   docker build -t oag .
#   docker run -p 8080:8080 -v oag-data:/data -e OAG_ADMIN_TOKEN=... oag

# ---- builder: -dev packages, CMake + Ninja build of the oag executable --------
FROM debian:12-slim AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libcaf-dev libboost-system-dev libboost-dev nlohmann-json3-dev \
      librocksdb-dev libssl-dev libspdlog-dev libfmt-dev libcli11-dev catch2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOAG_BUILD_TESTS=OFF \
 && cmake --build build --target oag -j "$(nproc)" \
 && strip build/bin/oag

# ---- runtime: only the shared libraries oag links against -----------------------
# RocksDB is linked statically (storage/CMakeLists.txt, OAG_STATIC_ROCKSDB=ON), so
# the runtime needs its compression libraries rather than librocksdb7.8; build
# with -DOAG_STATIC_ROCKSDB=OFF and add librocksdb7.8 here to link it shared.
FROM debian:12-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libcaf-core0.17 libssl3 libspdlog1.10 libfmt9 \
      libsnappy1v5 zlib1g libbz2-1.0 liblz4-1 libzstd1 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 oag \
 && useradd --system --uid 10001 --gid oag --home-dir /data --shell /usr/sbin/nologin oag \
 && mkdir -p /data /etc/oag \
 && chown oag:oag /data
COPY --from=builder /src/build/bin/oag /usr/local/bin/oag
COPY config/ /etc/oag/
# The Cockpit's static files (/cockpit); found there by default (cockpit_dir).
COPY cockpit/ /usr/share/oag/cockpit/
# Fail the image build if a shared library is missing.
RUN ! ldd /usr/local/bin/oag | grep -q "not found"
USER oag:oag
VOLUME ["/data"]
EXPOSE 8080
ENV OAG_CONFIG=/etc/oag/oag.json
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/oag"]
CMD ["serve", "--config", "/etc/oag/oag.json", "--data-dir", "/data", "--listen", "0.0.0.0:8080"]
