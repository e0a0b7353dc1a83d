// Command datamem measures the peak RSS of data.MapBlocks over a generated
// CSV of 1M rows x 28 floats (about 266 MB) with a 64 MiB object-store
// budget, and prints it beside the budget as a ratio.
//
//	go run ./bench/datamem
package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
)

func main() {
	dir, err := os.MkdirTemp("", "goray-bench-datamem")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "big.csv")
	{
		f, err := os.Create(p)
		if err != nil {
			panic(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for j := 0; j < 28; j++ {
			if j > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "f%d", j)
		}
		w.WriteByte('\n')
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 1_000_000; i++ {
			for j := 0; j < 28; j++ {
				if j > 0 {
					w.WriteByte(',')
				}
				fmt.Fprintf(w, "%.6f", r.NormFloat64())
			}
			w.WriteByte('\n')
		}
		w.Flush()
		f.Close()
	}
	if err := core.Init(core.WithMemoryBudget(64 << 20)); err != nil {
		panic(err)
	}
	defer core.Shutdown()
	ctx := context.Background()
	ds, err := data.ReadCSV(ctx, p)
	if err != nil {
		panic(err)
	}
	rows, err := data.MapBlocks(ctx, ds, func(ctx context.Context, b arrow.Record) (int64, error) { return b.NumRows(), nil })
	if err != nil {
		panic(err)
	}
	var n int64
	for _, r := range rows {
		n += r
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	const budget = 64 << 20
	fmt.Printf("data.MapBlocks over %d rows in %d blocks, memory budget 64 MiB: peak RSS %d MiB (%.1fx the budget; target < 300 MiB)\n",
		n, len(rows), ru.Maxrss>>10, float64(ru.Maxrss<<10)/budget)
}
