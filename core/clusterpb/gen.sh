#!/usr/bin/env bash
# Regenerates cluster.pb.go and cluster_grpc.pb.go from cluster.proto.
# `go generate ./core/clusterpb` runs it.
#   gen.sh            write the generated files here
#   gen.sh --verify   generate into a temp dir and fail if they differ
# It installs what it needs: protoc (apt-get install protobuf-compiler),
# protoc-gen-go and protoc-gen-go-grpc at pinned versions.
set -euo pipefail
cd "$(dirname "$0")"
PROTOC_GEN_GO_VERSION=v1.36.12     # google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1  # google.golang.org/grpc/cmd/protoc-gen-go-grpc

if ! command -v protoc >/dev/null; then
  if [ "${1:-}" = "--verify" ] && [ "${GORAY_INSTALL:-}" != "1" ]; then
    echo "SKIP verify-gen: protoc is not installed (apt-get install protobuf-compiler, or GORAY_INSTALL=1)" >&2
    exit 0
  fi
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y protobuf-compiler
  else
    echo "gen.sh: protoc is not installed; install protobuf-compiler" >&2
    exit 1
  fi
fi

GOBIN_DIR="$(go env GOPATH)/bin"
PLUGIN="$GOBIN_DIR/protoc-gen-go"
if ! [ -x "$PLUGIN" ] || ! "$PLUGIN" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_VERSION#v}"; then
  GOBIN="$GOBIN_DIR" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
GRPC_PLUGIN="$GOBIN_DIR/protoc-gen-go-grpc"
if ! [ -x "$GRPC_PLUGIN" ] || ! "$GRPC_PLUGIN" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC_VERSION#v}"; then
  GOBIN="$GOBIN_DIR" GOFLAGS=-mod=mod go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

out=.
if [ "${1:-}" = "--verify" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
protoc --plugin=protoc-gen-go="$PLUGIN" --plugin=protoc-gen-go-grpc="$GRPC_PLUGIN" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative cluster.proto
# The protoc version line differs between machines; keep it out of the files.
sed -i 's|^// \tprotoc .*|// \tprotoc        (see gen.sh)|; s|^// - protoc .*|// - protoc             (see gen.sh)|' "$out/cluster.pb.go" "$out/cluster_grpc.pb.go"

if [ "${1:-}" = "--verify" ]; then
  for f in cluster.pb.go cluster_grpc.pb.go; do
    if ! diff -u "$f" "$out/$f"; then
      echo "core/clusterpb/$f is out of date: run go generate ./core/clusterpb" >&2
      exit 1
    fi
  done
  echo "core/clusterpb is up to date"
fi
