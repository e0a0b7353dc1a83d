package serve

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// The decoder guesses each key from the order the last record used; the
// guess must never change what a record means: any key order, changing
// from record to record and between concurrent requests, puts each value
// in its feature's column, and a repeated or unknown key is still refused.
func TestDecodeJSONAnyKeyOrder(t *testing.T) {
	names, rows := bcData(t)
	in, err := NewInputSchema(linearCheckpoint(t, t.TempDir(), 1).Metadata().Features)
	if err != nil {
		t.Fatal(err)
	}
	record := func(row []float64, order []int) string {
		var b strings.Builder
		b.WriteByte('{')
		for k, j := range order {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%v", names[j], row[j])
		}
		b.WriteByte('}')
		return b.String()
	}
	orders := func(rng *rand.Rand) []int {
		switch rng.IntN(4) {
		case 0: // schema order
			o := make([]int, len(names))
			for j := range o {
				o[j] = j
			}
			return o
		case 1: // reversed
			o := make([]int, len(names))
			for j := range o {
				o[j] = len(names) - 1 - j
			}
			return o
		}
		return rng.Perm(len(names))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 200 {
				n := 1 + rng.IntN(3)
				recs := make([]string, n)
				want := make([][]float64, n)
				for i := range recs {
					want[i] = rows[rng.IntN(len(rows))]
					recs[i] = record(want[i], orders(rng))
				}
				c, err := in.decodeColumns([]byte("[" + strings.Join(recs, ",") + "]"))
				if err != nil {
					t.Error(err)
					return
				}
				for i := range want {
					for j := range names {
						if got := c.f[j][i]; got != want[i][j] {
							t.Errorf("row %d feature %q: %v, want %v", i, names[j], got, want[i][j])
						}
					}
				}
				in.putColumns(c)
			}
		}()
	}
	wg.Wait()

	// Learn a sorted order, then repeat a key where the guess would be
	// right and leave one out.
	sorted := record(rows[0], orders(rand.New(rand.NewPCG(1, 1))))
	if _, err := in.decodeColumns([]byte(sorted)); err != nil {
		t.Fatal(err)
	}
	dup := strings.Replace(sorted, "}", fmt.Sprintf(",%q:1}", names[3]), 1)
	if _, err := in.DecodeJSON([]byte(dup)); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("repeated key: %v", err)
	}
	short := record(rows[0], []int{1, 0})
	if _, err := in.DecodeJSON([]byte(short)); err == nil || !strings.Contains(err.Error(), "missing feature") {
		t.Fatalf("left-out keys: %v", err)
	}
	if _, err := in.DecodeJSON([]byte(`{"mean radius": 1, "nope": 2}`)); err == nil || !strings.Contains(err.Error(), `unknown feature "nope"`) {
		t.Fatalf("unknown key: %v", err)
	}
}
