// Package servepb holds the wire format of goray serve's gRPC ingress: the
// generic PredictService (serve.proto) and its generated Go code.
//
// Regenerate after editing serve.proto (protoc 3.21+, protoc-gen-go v1.36.12,
// protoc-gen-go-grpc v1.5.1 on PATH):
//
//	go generate ./serve/servepb
package servepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative serve.proto
