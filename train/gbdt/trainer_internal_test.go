package gbdt

import (
	"fmt"
	"sync/atomic"
)

// WithCrashAfter is a test hook: rank 1 panics once after n rounds.
func (t *Trainer) WithCrashAfter(n int) *Trainer {
	cp := *t
	cp.crashAfter, cp.crashKey = n, fmt.Sprintf("%p", &cp)
	injectedCrashes.Store(cp.crashKey, new(atomic.Bool))
	return &cp
}

// Crashed reports whether the injected crash happened.
func (t *Trainer) Crashed() bool {
	c, ok := injectedCrashes.Load(t.crashKey)
	return ok && c.(*atomic.Bool).Load()
}
