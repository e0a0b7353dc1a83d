package core

// The arity variants Func0..Func4, Func0x2..Func4x3, Func0xN..Func4xN and
// Gen0..Gen4 (funcs.go), Actor0..Actor3 and Method0..Method3
// (actors_gen.go) come from templates in internal/gen.
//go:generate go run ./internal/gen
