package gbdt

import "sync/atomic"

// WithCrashAfter is a test hook: rank 1 panics once after n rounds.
func (t *Trainer) WithCrashAfter(n int) *Trainer {
	cp := *t
	cp.crashAfter, cp.crashed = n, &atomic.Bool{}
	return &cp
}

// Crashed reports whether the injected crash happened.
func (t *Trainer) Crashed() bool { return t.crashed != nil && t.crashed.Load() }
