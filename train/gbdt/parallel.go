package gbdt

import (
	"sync"
	"sync/atomic"
)

// parallel runs fn(0..ntasks-1) on up to nthread goroutines and waits.
func parallel(nthread, ntasks int, fn func(task int)) {
	if nthread <= 1 || ntasks <= 1 {
		for i := range ntasks {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(nthread, ntasks) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= ntasks {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
