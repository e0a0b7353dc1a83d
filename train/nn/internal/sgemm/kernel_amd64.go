package sgemm

import "golang.org/x/sys/cpu"

var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	if haveKernel {
		Name = "Go assembly AVX2/FMA (pure Go)"
	}
}

// kernel6x16 adds A-panel·B-panel (k steps of a 6-vector times a 16-vector)
// into the 6×16 tile at c with row stride ldc (elements), or stores it there
// when load is 0.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, load int)

func kernel(k int, a, b, c *float32, ldc int) { kernel6x16(k, a, b, c, ldc, 1) }

func kernelStore(k int, a, b, c *float32, ldc int) { kernel6x16(k, a, b, c, ldc, 0) }
