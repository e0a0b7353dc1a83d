# goray: the entry points. CI runs `make test` on a fresh clone.
GO      ?= go
PKGS    := ./...

.PHONY: test test-encode-all demo bench lint race build cifar verify-gen

build:
	$(GO) build $(PKGS)

# The whole suite under the race detector (every package), then again in
# encode-all mode: every argument, result and put goes through the codec
# and every call is dispatched by name, as on a cluster (without -race and
# with -short, which skips the tests that are about processes and files
# rather than values: the HOME/TMPDIR suite rerun, SIGKILL restores,
# compile checks; this keeps both runs under 15 minutes on 2 cores).
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 14m $(PKGS)
	$(MAKE) test-encode-all

test-encode-all:
	GORAY_ENCODE_ALL=1 $(GO) test -short -timeout 10m $(PKGS)

race:
	$(GO) test -race -timeout 14m $(PKGS)

# The main job on the embedded runtime.
demo:
	$(GO) run ./examples/breast_cancer

# The neural-network example on CIFAR-10's "binary version": download
# cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html
# yourself, unpack it (tar xzf cifar-10-binary.tar.gz) and run
# `make cifar DATA=path/to/cifar-10-batches-bin`. Without DATA it trains on a
# synthetic set in the same format. Nothing is downloaded at run time.
cifar:
ifeq ($(DATA),)
	@echo 'make cifar: no DATA=path/to/cifar-10-batches-bin given, so the example runs on SYNTHETIC data.'
	@echo 'For CIFAR-10: download the "CIFAR-10 binary version" (cifar-10-binary.tar.gz) from'
	@echo 'https://www.cs.toronto.edu/~kriz/cifar.html, tar xzf it, and run make cifar DATA=.../cifar-10-batches-bin'
endif
	$(GO) run ./examples/cifar $(if $(DATA),--data-dir $(DATA))

# Benchmarks: testing.B figures, then programs that print tables with a
# baseline measured in the same run beside each figure.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20000x ./core/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./data/ ./data/internal/csvx/
	$(GO) run ./bench/core
	$(GO) run ./bench/data
	$(GO) run ./bench/datamem
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
	bash core/clusterpb/gen.sh --verify
	cd core && $(GO) run ./internal/gen -check
