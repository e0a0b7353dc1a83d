# goray: the entry points. CI runs `make test` on a fresh clone.
GO      ?= go
PKGS    := ./...

.PHONY: test demo bench lint race build cifar verify-gen

build:
	$(GO) build $(PKGS)

# The whole suite, then the runtime and the train framework again under the
# race detector.
test:
	$(GO) vet $(PKGS)
	$(GO) test -timeout 14m $(PKGS)
	$(GO) test -race -timeout 10m ./core/... ./train/

race:
	$(GO) test -race -timeout 14m $(PKGS)

# The main job on the embedded runtime.
demo:
	$(GO) run ./examples/breast_cancer

# The neural-network example: CIFAR-10 from --data-dir, or a synthetic set.
cifar:
	$(GO) run ./examples/cifar

# Benchmarks: testing.B figures, then programs that print tables with a
# baseline measured in the same run beside each figure.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20000x ./core/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./data/ ./data/internal/csvx/
	$(GO) run ./bench/core
	$(GO) run ./bench/data
	$(GO) run ./bench/preprocess
	$(GO) run ./bench/gbdt
	$(GO) run ./bench/tune
	$(GO) run ./bench/serve
	$(GO) run ./bench/batchpredict
	$(GO) run ./bench/nn

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Generated code is what its sources make: core/corepb from core.proto
# (skips with a message when protoc is missing), core's arity variants
# from core/internal/gen.
verify-gen:
	bash core/corepb/gen.sh --verify
	cd core && $(GO) run ./internal/gen -check
