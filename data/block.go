package data

import (
	"fmt"
	"io"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

// Block is one unit of a dataset as stored in the object store: an Arrow
// record and its size. The store owns it; nobody releases Rec (its memory is
// Go-allocated and collected once unreachable).
type Block struct {
	Rec  arrow.Record
	Size int64
}

// SizeBytes implements core.Sizer.
func (b *Block) SizeBytes() int64 { return b.Size }

func newBlock(rec arrow.Record) *Block { return &Block{Rec: rec, Size: block.Size(rec)} }

// blockCodec spills blocks as Arrow IPC streams.
type blockCodec struct{}

func (blockCodec) Encode(w io.Writer, b *Block) error {
	iw := ipc.NewWriter(w, ipc.WithSchema(b.Rec.Schema()))
	if err := iw.Write(b.Rec); err != nil {
		return err
	}
	return iw.Close()
}

func (blockCodec) Decode(r io.Reader) (*Block, error) {
	ir, err := ipc.NewReader(r, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, err
	}
	defer ir.Release()
	if !ir.Next() {
		if err := ir.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("data: spilled block has no record")
	}
	rec := ir.Record()
	rec.Retain()
	return newBlock(rec), nil
}

func init() { core.RegisterCodec[*Block](blockCodec{}) }

// blockRef is a block in the object store with its metadata, known without
// fetching it.
type blockRef struct {
	Ref  core.Ref[*Block]
	Rows int64
	Size int64
}
