package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The quickstart runs every step it describes and prints what each returns.
func TestQuickstartRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"squares over range(4): [0 1 4 9]",
		"square(2) + square(3) as a task graph: 13",
		"three tasks summed one Put of 1M floats: [1e+06 1e+06 1e+06]",
		"Wait for 2 of 3: ready [10 20], 1 still running",
		"counter actor: [1 2 3 4 5]",
		"core.Map over 10000 items",
		"last = 99980001",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
