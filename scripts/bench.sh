#!/usr/bin/env bash
# scripts/bench.sh — tock's benchmark suite against its peers (BENCHMARKS.md).
#
# Brings up MariaDB and Redis as the test command does, then runs the bench
# module's tockbench (a separate Go module: the peers never enter tock's
# dependencies). Arguments go to tockbench, e.g.
#
#   scripts/bench.sh -only fire,peers -sizes 1k,10k,100k
#   scripts/bench.sh -throughput-duration 2m -failovers 20
#
# The markdown table is written to bench/results.md (-out to change it).
# Default sizes finish in about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -d /usr/local/go/bin ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
TOCK_SERVICES_ONLY=1 bash scripts/test.sh
cd bench
exec go run ./cmd/tockbench -root .. "$@"
