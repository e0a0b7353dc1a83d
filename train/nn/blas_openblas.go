//go:build openblas && cgo

package nn

import _ "github.com/goray/goray/train/nn/internal/openblas" // float32 products through OpenBLAS
