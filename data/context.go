package data

import (
	"log"
	"sync"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Context holds execution settings, like Ray's DataContext. DefaultContext
// returns the process-wide one; Dataset.WithContext overrides it for one
// dataset. Settings are read when a dataset is consumed.
type Context struct {
	// TargetMaxBlockSize is the largest block the executor emits (bytes);
	// larger outputs are split. A single row larger than this is kept whole
	// and logged as a warning.
	TargetMaxBlockSize int64
	// TargetMinBlockSize: outputs of one task smaller than this are
	// coalesced.
	TargetMinBlockSize int64
	// MemoryBudget bounds the bytes of blocks in flight in one execution
	// (produced and not yet consumed). Tasks are not launched past it.
	MemoryBudget int64
	// MaxTasksPerOperator caps concurrent tasks of one operator.
	MaxTasksPerOperator int
	// ReadChunkBytes is the byte range one CSV/JSON read task parses.
	ReadChunkBytes int64
	// DefaultBatchSize is used by IterBatches when no size is given.
	DefaultBatchSize int
	// Warn receives warnings (oversized rows); log.Printf by default.
	Warn func(format string, args ...any)
	// Allocator is used for records built on the driver and in tasks.
	Allocator memory.Allocator
}

var (
	defaultCtxOnce sync.Once
	defaultCtx     *Context
)

// NewContext returns a Context with the defaults.
func NewContext() *Context {
	return &Context{
		TargetMaxBlockSize:  512 << 20,
		TargetMinBlockSize:  1 << 20,
		MemoryBudget:        2 << 30,
		MaxTasksPerOperator: 8,
		ReadChunkBytes:      8 << 20,
		DefaultBatchSize:    1024,
		Warn:                log.Printf,
		Allocator:           memory.DefaultAllocator,
	}
}

// DefaultContext returns the process-wide Context. Change its fields before
// consuming datasets.
func DefaultContext() *Context {
	defaultCtxOnce.Do(func() { defaultCtx = NewContext() })
	return defaultCtx
}

func (c *Context) fill() *Context {
	d := NewContext()
	if c == nil {
		c = DefaultContext()
	}
	cp := *c
	if cp.TargetMaxBlockSize <= 0 {
		cp.TargetMaxBlockSize = d.TargetMaxBlockSize
	}
	if cp.TargetMinBlockSize < 0 {
		cp.TargetMinBlockSize = 0
	}
	if cp.MemoryBudget <= 0 {
		cp.MemoryBudget = d.MemoryBudget
	}
	if cp.MaxTasksPerOperator <= 0 {
		cp.MaxTasksPerOperator = d.MaxTasksPerOperator
	}
	if cp.ReadChunkBytes <= 0 {
		cp.ReadChunkBytes = d.ReadChunkBytes
	}
	if cp.DefaultBatchSize <= 0 {
		cp.DefaultBatchSize = d.DefaultBatchSize
	}
	if cp.Warn == nil {
		cp.Warn = d.Warn
	}
	if cp.Allocator == nil {
		cp.Allocator = d.Allocator
	}
	return &cp
}
