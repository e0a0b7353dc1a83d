// Package corepb holds goray's wire messages: TaskSpec (one call of a
// function, actor constructor or method, with its arguments inline or as
// object refs), ObjectRef (an object and its owner), ActorRef (an actor
// and its owner: the wire form of an actor handle), ErrorStatus (an error
// with its category, message, remote stack and cause chain) and Value (one
// value encoded by core's codec layer).
//
// core.proto is the source; core.pb.go is generated from it and checked
// in. Regenerate with go generate ./core/corepb; make verify-gen fails
// when the checked-in code is stale.
package corepb

//go:generate bash gen.sh
