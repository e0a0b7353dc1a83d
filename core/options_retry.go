package core

// RetryOn makes a task or actor method retry, up to its MaxRetries
// (MaxTaskRetries for methods), only on an error that errors.Is one of
// kinds; any other error fails at once. Without RetryOn, RetryExceptions(true)
// retries on every error.
func RetryOn(kinds ...error) Option {
	return func(o *options) { o.retryOn = append([]error(nil), kinds...) }
}
