package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, []string{"-rows", "5000", "-rounds", "3", "-xgboost=false", "-repeat", "1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "goray gbdt") {
		t.Errorf("output:\n%s", out.String())
	}
}

// BenchmarkTrain trains 10 rounds on 200k generated rows x 28 features
// (the bench program's data, smaller), 2 threads.
func BenchmarkTrain(b *testing.B) {
	const n = 200_000
	cols32, labels32 := generate(n, 28, 1)
	cols := make([][]float64, len(cols32))
	names := make([]string, len(cols32))
	for j, c := range cols32 {
		names[j] = fmt.Sprintf("f%d", j)
		cols[j] = make([]float64, n)
		for i, v := range c {
			cols[j][i] = float64(v)
		}
	}
	labels := make([]float64, n)
	for i, v := range labels32 {
		labels[i] = float64(v)
	}
	m, err := gbdt.NewMatrix(names, cols, labels)
	if err != nil {
		b.Fatal(err)
	}
	params := gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "max_bin": 256, "nthread": 2}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gbdt.Train(context.Background(), m, nil, params, 10); err != nil {
			b.Fatal(err)
		}
	}
}
