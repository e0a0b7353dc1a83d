package core

// taskOptions are the options only remote functions read.
type taskOptions struct {
	numReturns   int // NumReturns; 0 means the registration's own count
	backpressure int // GeneratorBackpressure; 0 means none
}

// NumReturns is how many values a call of a FuncAxN function returns, each
// its own ref (Ray's num_returns); default 1. The function must return
// exactly n values, else every ref of the call fails with ErrTaskFailed
// wrapping ErrInvalidInput. On a function of a fixed count (Func1, Func1x2,
// ...), any other n is ErrInvalidInput.
func NumReturns(n int) FuncOption {
	return funcOnly(func(o *options) {
		if n < 1 {
			o.fail("option NumReturns = %d: must be >= 1", n)
			return
		}
		o.task.numReturns = n
	})
}

// GeneratorBackpressure bounds a generator task (Gen0..Gen4): once n
// values it yielded are not yet taken by the caller (Generator.Next or
// All), its next yield waits (Ray's _generator_backpressure_num_objects).
// The default, 0, never waits.
func GeneratorBackpressure(n int) FuncOption {
	return funcOnly(func(o *options) {
		if n < 0 {
			o.fail("option GeneratorBackpressure = %d: must be >= 0", n)
			return
		}
		o.task.backpressure = n
	})
}
