#!/usr/bin/env bash
# Regenerates core.pb.go from core.proto. `go generate ./core/corepb` runs it.
#   gen.sh            write core.pb.go here
#   gen.sh --verify   generate into a temp dir and fail if core.pb.go differs
# It installs what it needs: protoc (apt-get install protobuf-compiler) and
# protoc-gen-go at the version go.mod pins.
set -euo pipefail
cd "$(dirname "$0")"
PROTOC_GEN_GO_VERSION=v1.36.12 # google.golang.org/protobuf in go.mod

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

out=.
if [ "${1:-}" = "--verify" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
protoc --plugin=protoc-gen-go="$PLUGIN" --go_out="$out" --go_opt=paths=source_relative core.proto
# The protoc version line differs between machines; keep it out of the file.
sed -i 's|^// \tprotoc .*|// \tprotoc        (see gen.sh)|' "$out/core.pb.go"

if [ "${1:-}" = "--verify" ]; then
  if ! diff -u core.pb.go "$out/core.pb.go"; then
    echo "core/corepb/core.pb.go is out of date: run go generate ./core/corepb" >&2
    exit 1
  fi
  echo "core/corepb/core.pb.go is up to date"
fi
