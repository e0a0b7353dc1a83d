package core

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
