# tock — build and test entry points. `make test` is what CI runs
# (.ci/run); it brings MariaDB and Redis up when needed (scripts/test.sh).

# Go's official tarball installs to /usr/local/go; use it when no go is on
# PATH. scripts/test.sh does the same for `make test`.
ifeq ($(shell command -v go 2>/dev/null),)
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := /usr/local/go/bin:$(PATH)
endif
endif

GO      ?= go
GOFMT   ?= gofmt
BIN     ?= bin/tock
# Extra arguments for `make test`, e.g. TESTFLAGS='./storage/... -run Lease -v'.
TESTFLAGS ?=

.PHONY: all test build vet fmt fmt-check

all: vet build test

## ---- core ---------------------------------------------------------------

# test: services up, go vet, go test -race over ./... (see scripts/test.sh).
test:
	bash scripts/test.sh $(TESTFLAGS)

build:
	$(GO) build -o $(BIN) ./cmd/tock
	$(GO) build -o $(dir $(BIN))tock-exec ./cmd/tock-exec

vet:
	$(GO) vet ./...

# fmt rewrites files; fmt-check only lists unformatted ones and fails.
fmt:
	$(GOFMT) -w .

fmt-check:
	@out=$$($(GOFMT) -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## ---- chaos / bench ------------------------------------------------------

# chaos: a randomised fault run (kill -9/SIGTERM of replicas, Redis flush and
# restarts, MariaDB restarts) on a private redis-server and MariaDB, then a
# history audit; fails on any duplicate or silently missing tick. See
# RELIABILITY.md. Example: make chaos DURATION=10m SEED=1
DURATION ?= 10m
SEED     ?= 0
CHAOSFLAGS ?=

.PHONY: chaos
chaos:
	$(GO) run ./internal/chaos/cmd/tock-chaos -duration $(DURATION) -seed $(SEED) $(CHAOSFLAGS)

# faults: the fault kit (RELIABILITY.md, "Fault kit"): every named fault
# scenario once — a replica frozen (SIGSTOP) past its leases, cut off from
# Redis or MariaDB through a fault proxy (refuse and blackhole), run with a
# clock 3s off — each about a minute on a private redis-server and MariaDB,
# with tock built -tags tockfault. Each scenario's job bodies record their
# own executions, audited against history; prints a markdown table and a
# PASS/FAIL per scenario, and fails if any scenario failed. Examples:
#   make faults
#   make faults SCENARIO=freeze-worker,skew+3s-leader FAULTFLAGS='-dir /tmp/faults'
SCENARIO   ?= all
FAULTFLAGS ?=

.PHONY: faults
faults:
	$(GO) run ./internal/chaos/cmd/tock-chaos -scenario $(SCENARIO) $(FAULTFLAGS)

# bench: tock beside robfig/cron, gocron and asynq (BENCHMARKS.md): fire
# latency, throughput, schedule scale, failover; about 20 minutes. The bench
# module (bench/) has its own go.mod. Example:
#   make bench BENCHFLAGS='-only fire,peers -sizes 1k,10k,100k'
BENCHFLAGS ?=

.PHONY: bench
bench:
	bash scripts/bench.sh $(BENCHFLAGS)
