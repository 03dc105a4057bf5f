# syntax=docker/dockerfile:1
# Images for users who have Docker; the local cluster builds the same binaries
# into the same layout without a daemon (test/images, `make images`).
#   docker build --target manager      -t ghcr.io/meshkeeper/manager:dev .
#   docker build --target controlplane --build-arg VERSION=0.1.0 -t ghcr.io/meshkeeper/controlplane:0.1.0 .
#   docker build --target proxy        --build-arg VERSION=0.1.0 -t ghcr.io/meshkeeper/proxy:0.1.0 .
#   docker build --target proxy-init   --build-arg VERSION=0.1.0 -t ghcr.io/meshkeeper/proxy-init:0.1.0 .
# VERSION is the mesh release's ProxyVersion (internal/operator/versions) for the mesh images.

FROM golang:1.26 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN for c in manager controlplane proxy proxy-init; do \
      go build -trimpath -ldflags "-X github.com/meshkeeper/meshkeeper/internal/buildinfo.Version=${VERSION}" \
        -o /out/$c ./cmd/$c || exit 1; \
    done

FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM gcr.io/distroless/static:nonroot AS controlplane
COPY --from=build /out/controlplane /controlplane
USER 65532:65532
ENTRYPOINT ["/controlplane"]

FROM gcr.io/distroless/static:nonroot AS proxy
COPY --from=build /out/proxy /proxy
# contract.ProxyUID: proxy-init exempts this user from traffic redirection.
USER 2102:2102
ENTRYPOINT ["/proxy"]

# proxy-init programs the pod's netfilter rules: root with NET_ADMIN (granted by the injected spec).
FROM gcr.io/distroless/static AS proxy-init
COPY --from=build /out/proxy-init /proxy-init
USER 0:0
ENTRYPOINT ["/proxy-init"]
