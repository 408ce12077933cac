package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tock-sched/tock/bench/stats"
	"github.com/tock-sched/tock/internal/tracing/otlptest"
)

// traceMode is one way of running a fire scenario: tracing off (the OTEL_*
// variables say none) or on, exporting to an in-process OTLP receiver.
type traceMode struct {
	on    bool
	label string // appended to the system's name
}

// traceModes are the modes -trace asks for: with it, off then on, side by
// side, rounds times (alternating, so that a drift of the machine's load
// shows in both); without it, one run under the caller's own environment.
func traceModes(trace bool, rounds int) []traceMode {
	if !trace {
		return []traceMode{{}}
	}
	var out []traceMode
	for i := range max(rounds, 1) {
		suffix := ""
		if rounds > 1 {
			suffix = fmt.Sprintf(" #%d", i+1)
		}
		out = append(out, traceMode{label: ", tracing off" + suffix}, traceMode{on: true, label: ", tracing on" + suffix})
	}
	return out
}

// spansPerRun are the spans of a one-attempt run: dispatch, claim,
// attempt, finish.
const spansPerRun = 4

// fireTraced is fireTock in mode m. Tracing is set through the environment
// the tock processes inherit (e2e.ReplicaEnv): OTEL_TRACES_EXPORTER=none
// for off, an OTLP endpoint for on, with the SDK's default batch processor.
func (e *tockEnv) fireTraced(ctx context.Context, m traceMode, distributed bool, n int, period time.Duration, ticks int) (fair, overhead stats.Fire, err error) {
	if m.label == "" {
		return e.fireTock(ctx, distributed, n, period, ticks)
	}
	var rcv *otlptest.Receiver
	vars := map[string]string{"OTEL_TRACES_EXPORTER": "none"}
	if m.on {
		if rcv, err = otlptest.Start(false); err != nil {
			return fair, overhead, err
		}
		defer rcv.Close()
		vars = map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL()}
	}
	for k, v := range vars {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	fair, overhead, err = e.fireTock(ctx, distributed, n, period, ticks)
	fair.System += m.label
	overhead.System += m.label
	if rcv != nil {
		// Spans of runs outside the window (warm-up, the tick after it)
		// count too: the receiver sees every span tock exported.
		fair.Note += fmt.Sprintf("; %d spans received (%d export requests), %d per run", rcv.Count(), rcv.Requests(), spansPerRun)
	}
	return fair, overhead, err
}
