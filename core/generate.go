package core

// The arity variants Func0..Func4 (funcs.go), Actor0..Actor3 and
// Method0..Method3 (actors_gen.go) come from one template each.
//go:generate go run ./internal/gen
