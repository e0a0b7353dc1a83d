package core

import "fmt"

// actorOptions are the options only an actor class takes.
type actorOptions struct {
	outOfOrder  bool   // AllowOutOfOrderExecution
	namespace   string // Namespace, when nsSet
	nsSet       bool
	detached    bool // Detached
	getIfExists bool // GetIfExists
}

// AllowOutOfOrderExecution lets a one-at-a-time actor run a call as soon
// as its ref arguments are ready, before earlier calls of the same caller
// whose arguments are not (Ray's allow_out_of_order_execution). By default
// calls from one caller run in the order they were made.
func AllowOutOfOrderExecution(on bool) ActorOption {
	return actorOnly(func(o *options) { o.actor.outOfOrder = on })
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

// NamespaceOption is what Namespace returns: an ActorOption and a
// GetActorOption.
type NamespaceOption func(*options)

func (f NamespaceOption) actorOpt(o *options)    { f(o) }
func (f NamespaceOption) getActorOpt(o *options) { f(o) }

// Namespace is the namespace a named actor lives in (Ray's namespace
// option), for actor creation and for GetActor; without it, the runtime's
// (WithNamespace). One name names one actor per namespace.
func Namespace(ns string) NamespaceOption {
	return NamespaceOption(func(o *options) {
		if ns == "" {
			o.fail("option Namespace: must not be empty")
			return
		}
		o.actor.namespace, o.actor.nsSet = ns, true
	})
}

// WithNamespace sets the runtime's namespace, where named actors are made
// and looked up unless Namespace says otherwise (Ray's
// ray.init(namespace=...)). The default is the empty namespace.
func WithNamespace(ns string) InitOption {
	return func(c *initConfig) {
		if ns == "" && c.err == nil {
			c.err = fmt.Errorf("%w: Init option WithNamespace: must not be empty", ErrInvalidInput)
		}
		c.namespace = ns
	}
}

// namespaceOf is the namespace opts name, else rt's.
func namespaceOf(rt *Runtime, o *options) string {
	if o.actor.nsSet {
		return o.actor.namespace
	}
	return rt.cfg.namespace
}

// Detached makes an actor's lifetime its own, as Ray's lifetime="detached"
// does: it outlives the actor that created it and stays when every handle
// to it is gone, until Kill or Shutdown. Name it to find it again
// (GetActor). Without it an actor dies with the actor that created it, and
// once no handle to it is left.
func Detached() ActorOption { return actorOnly(func(o *options) { o.actor.detached = true }) }

// GetIfExists makes the creation of a named actor return the live actor
// of that name and type in its namespace if there is one (its constructor
// does not run, the new options are ignored), as Ray's get_if_exists=True
// does. Of many concurrent creations exactly one constructs it.
func GetIfExists() ActorOption {
	return actorOnly(func(o *options) { o.actor.getIfExists = true })
}
