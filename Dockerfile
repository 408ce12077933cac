# syntax=docker/dockerfile:1
# Multi-stage build of tock and its process supervisor tock-exec (pure Go:
# SQLite driver included); tock finds tock-exec beside itself.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/tock-sched/tock/internal/replica.Version=${VERSION}" -o /out/tock ./cmd/tock \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/tock-exec ./cmd/tock-exec

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/tock --create-home tock
COPY --from=build /out/tock /out/tock-exec /usr/local/bin/
COPY examples/tock.yaml /etc/tock/tock.yaml
USER tock
WORKDIR /var/lib/tock
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tock"]
CMD ["run", "-c", "/etc/tock/tock.yaml"]
