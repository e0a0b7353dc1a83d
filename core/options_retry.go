package core

import (
	"errors"
	"slices"
)

// RetryOn retries a call that returns an error matching one of kinds
// (errors.Is), as Ray's retry_exceptions=[...] does; other errors fail at
// once. On an actor class it applies to every method call, up to
// MaxTaskRetries attempts after the first, and to the constructor: a
// constructor error of one of the kinds counts as a crash, so the actor is
// restarted within MaxRestarts. On a remote function it applies up to
// MaxRetries. A kind meant to match across processes (encode-all mode, a
// cluster) must be registered with RegisterError.
func RetryOn(kinds ...error) Option {
	return func(o *options) {
		for _, k := range kinds {
			if k == nil {
				o.fail("option RetryOn: a nil error kind")
				return
			}
		}
		o.retryOn = append(slices.Clip(o.retryOn), kinds...)
	}
}

// retriesErr reports whether a returned error is retried: with RetryOn,
// one that matches a listed kind (even if RetryExceptions is also set);
// else any error, with RetryExceptions.
func (o *options) retriesErr(err error) bool {
	if err == nil {
		return false
	}
	if len(o.retryOn) == 0 {
		return o.retryExceptions
	}
	for _, k := range o.retryOn {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
