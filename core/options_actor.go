package core

// actorOptions are the options only an actor class takes.
type actorOptions struct {
	outOfOrder bool // AllowOutOfOrderExecution
}

// AllowOutOfOrderExecution lets a one-at-a-time actor run a call as soon
// as its ref arguments are ready, before earlier calls of the same caller
// whose arguments are not (Ray's allow_out_of_order_execution). By default
// calls from one caller run in the order they were made.
func AllowOutOfOrderExecution(on bool) Option {
	return func(o *options) { o.actor.outOfOrder = on }
}

// KillOption configures Kill.
type KillOption func(*killConfig)

type killConfig struct {
	noRestart bool
}

// NoRestart says whether Kill is final (default true, as Ray's
// ray.kill(no_restart=True)). With NoRestart(false) an actor that has
// restarts left (MaxRestarts) is restarted: the call running on it fails
// with ErrActorDied (or runs again, MaxTaskRetries), queued calls run on
// the new instance, and Restarts counts it. An actor with no restart left
// dies.
func NoRestart(on bool) KillOption { return func(c *killConfig) { c.noRestart = on } }
