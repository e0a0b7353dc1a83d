// Command data benchmarks the goray data layer against baselines measured in
// the same run, like with like: CSV read MB/s on one thread (goray's
// reader on a one-CPU runtime beside one arrow/csv reader, both at
// GOMAXPROCS=1) and in parallel (goray's reader beside arrow/csv with one
// reader per chunk of the file on as many goroutines), and beside pandas
// read_csv (when python3-pandas is importable); MapBatches GB/s, Sort and
// GroupBy rows/s beside plain single-threaded Go; a one-row JSON request
// through serve's decoder beside encoding/json; and peak memory.
//
//	go run ./bench/data [-rows 1000000] [-cols 28]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	arrowcsv "github.com/apache/arrow/go/v15/arrow/csv"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/serve"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows of the generated CSV")
	cols := flag.Int("cols", 28, "float columns of the generated CSV")
	keep := flag.Bool("keep", false, "keep the generated CSV")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the Sort and GroupBy runs")
	flag.Parse()
	profPath = *prof
	if err := run(context.Background(), os.Stdout, *rows, *cols, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/data:", err)
		os.Exit(1)
	}
}

var profPath string

type line struct {
	what           string
	goray, base    float64
	unit, baseline string
}

func run(ctx context.Context, w io.Writer, rows, cols int, keep bool) error {
	dir, err := os.MkdirTemp("", "goray-bench-data")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "floats.csv")
	t0 := time.Now()
	size, err := generate(path, rows, cols)
	if err != nil {
		return err
	}
	mb := float64(size) / 1e6
	procs := runtime.GOMAXPROCS(0)
	fmt.Fprintf(w, "generated %s: %d rows x %d float columns, %.0f MB in %s (GOMAXPROCS=%d); loadavg %s\n\n",
		path, rows, cols, mb, time.Since(t0).Round(time.Millisecond), procs, loadavg())
	var out []line
	schema := floatSchema(cols)

	// 1a. CSV read on one thread: goray's reader (its CSV parser, csvx, in
	// read tasks on a runtime of one CPU) beside one arrow/csv reader over
	// the whole file, both with GOMAXPROCS=1 (the garbage collector too).
	// Runs alternate, best of three each.
	runtime.GOMAXPROCS(1)
	if err := core.Init(core.WithNumCPUs(1)); err != nil {
		return err
	}
	var ds *data.Dataset
	gorayOne, arrowOne := pair(3, func() error {
		ds = nil
		var err error
		ds, err = readMaterialize(ctx, path)
		return err
	}, func() error {
		return arrowCSV(path, schema, 1, 0, rows)
	})
	ds = nil
	core.Shutdown()
	runtime.GOMAXPROCS(procs)
	if gorayOne.err != nil {
		return gorayOne.err
	}
	if arrowOne.err != nil {
		return arrowOne.err
	}
	out = append(out, line{"CSV read 1 thread", mb / gorayOne.secs, mb / arrowOne.secs, "MB/s", "arrow/csv, one reader, GOMAXPROCS=1"})

	// 1b. CSV read in parallel: goray's reader on the whole machine beside
	// arrow/csv with one reader per chunk of the file (goray's chunk size),
	// on as many goroutines as the runtime has CPUs. Then pandas (its own
	// process), when importable.
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	workers := max(int(core.ClusterResources()["CPU"]), 1)
	dc := data.DefaultContext()
	chunk := min(dc.ReadChunkBytes, max(1, dc.TargetMaxBlockSize/2))
	var read *data.Dataset
	gorayRead := timing{secs: 1e18}
	arrowPar := timing{secs: 1e18}
	pandasSecs := 1e18
	pandasNote := ""
	for i := 0; i < 3; i++ {
		ds = nil // let the previous run's blocks go before timing starts
		runtime.GC()
		start := time.Now()
		read, err = data.ReadCSV(ctx, path)
		if err != nil {
			return err
		}
		if ds, err = read.Materialize(ctx); err != nil {
			return err
		}
		d := time.Since(start).Seconds()
		if i == 0 {
			gorayRead.first = d
		}
		gorayRead.secs = min(gorayRead.secs, d)
		runtime.GC()
		start = time.Now()
		if err := arrowCSV(path, schema, workers, chunk, rows); err != nil {
			return err
		}
		arrowPar.secs = min(arrowPar.secs, time.Since(start).Seconds())
		if pandasSecs == 0 {
			continue
		}
		if p, note := timePandas(path); p > 0 {
			pandasSecs, pandasNote = min(pandasSecs, p), note
		} else {
			pandasSecs, pandasNote = 0, note
		}
	}
	n, err := ds.Count(ctx)
	if err != nil || n != int64(rows) {
		return fmt.Errorf("read %d rows, want %d (%v)", n, rows, err)
	}
	out = append(out, line{fmt.Sprintf("CSV read %d threads", workers), mb / gorayRead.secs, mb / arrowPar.secs, "MB/s",
		fmt.Sprintf("arrow/csv, one reader per %d MiB chunk on %d goroutines", chunk>>20, workers)})
	if pandasSecs > 0 {
		out = append(out, line{"CSV read vs pandas", mb / gorayRead.secs, mb / pandasSecs, "MB/s", "pandas " + pandasNote + " (best of 3)"})
		out = append(out, line{"CSV read cold", mb / gorayRead.first, mb / pandasSecs, "MB/s", "goray's first run vs pandas' best"})
	}

	// 2. MapBatches: scale every column by 2 (a full pass over the data).
	recs, err := collect(ctx, ds)
	if err != nil {
		return err
	}
	var bytes int64
	for _, r := range recs {
		for _, c := range r.Columns() {
			bytes += int64(c.Len()) * 8
		}
	}
	gb := float64(bytes) / 1e9
	// Each goray figure is timed alternately with its baseline (best of
	// five each), so both see the same machine load.
	mapRun, plainMap := pair(5, func() error {
		_, err := ds.MapBatches(scale, data.Name("scale")).Count(ctx)
		return err
	}, func() error {
		for _, r := range recs {
			s, _ := scale(ctx, r)
			s.Release()
		}
		return nil
	})
	if mapRun.err != nil {
		return mapRun.err
	}
	out = append(out, line{"MapBatches", gb / mapRun.secs, gb / plainMap.secs, "GB/s", "plain Go loop 1 thread"})

	if profPath != "" {
		f, err := os.Create(profPath)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	// 3. Sort by c0.
	sortRun, plainSort := pair(3, func() error {
		_, err := ds.Sort("c0", false).Count(ctx)
		return err
	}, func() error {
		var xs []float64
		for _, r := range recs {
			xs = append(xs, r.Column(0).(*array.Float64).Float64Values()...)
		}
		idx := make([]int, len(xs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case xs[a] < xs[b]:
				return -1
			case xs[a] > xs[b]:
				return 1
			}
			return 0
		})
		// Gather every column in the new order, as a table sort must.
		for c := 0; c < cols; c++ {
			var src []float64
			for _, r := range recs {
				src = append(src, r.Column(c).(*array.Float64).Float64Values()...)
			}
			dst := make([]float64, len(src))
			for i, j := range idx {
				dst[i] = src[j]
			}
		}
		return nil
	})
	if sortRun.err != nil {
		return sortRun.err
	}
	out = append(out, line{"Sort", float64(rows) / sortRun.secs / 1e6, float64(rows) / plainSort.secs / 1e6, "Mrows/s", "Go index sort+gather 1 thread"})

	// 4. GroupBy a 100-valued key, five aggregations.
	keyed, err := ds.MapBatches(addKey).Materialize(ctx)
	if err != nil {
		return err
	}
	gbRun, plainGB := pair(5, func() error {
		_, err := keyed.GroupBy("k").Aggregate(data.Count(), data.Sum("c1"), data.Mean("c1"), data.Min("c2"), data.Max("c2")).Count(ctx)
		return err
	}, func() error {
		type acc struct{ n, sum, mn, mx float64 }
		m := map[int64]*acc{}
		for _, r := range recs {
			c0 := r.Column(0).(*array.Float64).Float64Values()
			c1 := r.Column(1).(*array.Float64).Float64Values()
			c2 := r.Column(2).(*array.Float64).Float64Values()
			for i := range c0 {
				k := int64(c0[i])
				a := m[k]
				if a == nil {
					a = &acc{mn: c2[i], mx: c2[i]}
					m[k] = a
				}
				a.n++
				a.sum += c1[i]
				a.mn, a.mx = min(a.mn, c2[i]), max(a.mx, c2[i])
			}
		}
		return nil
	})
	if gbRun.err != nil {
		return gbRun.err
	}
	out = append(out, line{"GroupBy", float64(rows) / gbRun.secs / 1e6, float64(rows) / plainGB.secs / 1e6, "Mrows/s", "Go map 1 thread"})

	// 5. A one-row JSON request as serve decodes it (checked against the
	// model's features, into an Arrow record) beside encoding/json into
	// []map[string]any (no checks, no record).
	js, err := jsonDecode()
	if err != nil {
		return err
	}
	out = append(out, js)

	fmt.Fprintf(w, "%-24s %12s %12s %8s  %s\n", "benchmark", "goray", "baseline", "ratio", "baseline is")
	for _, l := range out {
		fmt.Fprintf(w, "%-24s %12.1f %12.1f %7.2fx  %s (%s)\n", l.what, l.goray, l.base, l.goray/l.base, l.baseline, l.unit)
	}
	fmt.Fprintf(w, "\nCSV read wall time: on one thread goray %.2fs, arrow/csv %.2fs; on %d: goray %.2fs (first run %.2fs), arrow/csv %.2fs",
		gorayOne.secs, arrowOne.secs, workers, gorayRead.secs, gorayRead.first, arrowPar.secs)
	if pandasSecs > 0 {
		fmt.Fprintf(w, ", pandas %.2fs: goray %.2fx faster (%.2fx on its cold first run); target >= 1.5x",
			pandasSecs, pandasSecs/gorayRead.secs, pandasSecs/gorayRead.first)
	} else {
		fmt.Fprintf(w, ", pandas: %s", pandasNote)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "peak memory (VmHWM) %s; object store peak %d MB; loadavg %s\n", vmHWM(), core.ObjectStoreStats().PeakMemory>>20, loadavg())
	fmt.Fprintf(w, "\nlast read stats:\n%s", read.Stats())
	return nil
}

type timing struct {
	secs  float64 // fastest run
	first float64 // first run (cold: fresh memory, empty pools)
	err   error
}

// pair times a and b alternately n times each and keeps the fastest of
// each.
func pair(n int, a, b func() error) (ta, tb timing) {
	ta, tb = timing{secs: 1e18}, timing{secs: 1e18}
	for i := 0; i < n; i++ {
		for _, x := range []struct {
			fn func() error
			t  *timing
		}{{a, &ta}, {b, &tb}} {
			runtime.GC()
			start := time.Now()
			if err := x.fn(); err != nil {
				return timing{err: err}, timing{err: err}
			}
			x.t.secs = min(x.t.secs, time.Since(start).Seconds())
		}
	}
	return ta, tb
}

func generate(path string, rows, cols int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 4<<20)
	for c := 0; c < cols; c++ {
		if c > 0 {
			bw.WriteByte(',')
		}
		fmt.Fprintf(bw, "c%d", c)
	}
	bw.WriteByte('\n')
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 0, 16*cols)
	for r := 0; r < rows; r++ {
		buf = buf[:0]
		for c := 0; c < cols; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, rng.Float64()*100, 'f', 6, 64)
		}
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	// Flush it to disk now so that write-back does not run during the
	// timed reads.
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

func floatSchema(cols int) *arrow.Schema {
	fields := make([]arrow.Field, cols)
	for i := range fields {
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func readMaterialize(ctx context.Context, path string) (*data.Dataset, error) {
	read, err := data.ReadCSV(ctx, path)
	if err != nil {
		return nil, err
	}
	return read.Materialize(ctx)
}

// arrowCSV reads the file with arrow/csv and keeps every record until the
// end, as a materialized dataset does. chunk 0 is one reader over the
// whole file; otherwise the file is cut into chunks of about that many
// bytes at line ends, each read by its own reader, on workers goroutines.
func arrowCSV(path string, schema *arrow.Schema, workers int, chunk int64, wantRows int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// The header line, then chunk boundaries just after a newline.
	br := bufio.NewReader(io.NewSectionReader(f, 0, st.Size()))
	hdr, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	bounds := []int64{int64(len(hdr))}
	if chunk > 0 {
		buf := make([]byte, 64<<10)
		for off := bounds[0] + chunk; off < st.Size(); off += chunk {
			n, err := f.ReadAt(buf, off)
			if err != nil && err != io.EOF {
				return err
			}
			i := bytes.IndexByte(buf[:n], '\n')
			if i < 0 {
				return fmt.Errorf("%s: no line end within 64 KiB of byte %d", path, off)
			}
			if b := off + int64(i) + 1; b < st.Size() && b > bounds[len(bounds)-1] {
				bounds = append(bounds, b)
			}
		}
	}
	bounds = append(bounds, st.Size())
	type part struct{ start, end int64 }
	parts := make(chan part, len(bounds))
	for i := range bounds[:len(bounds)-1] {
		parts <- part{bounds[i], bounds[i+1]}
	}
	close(parts)
	kept := make([][]arrow.Record, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range parts {
				r := arrowcsv.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, p.start, p.end-p.start), 1<<20), schema,
					arrowcsv.WithChunk(1<<16))
				for r.Next() {
					rec := r.Record()
					rec.Retain()
					kept[g] = append(kept[g], rec)
				}
				err := r.Err()
				r.Release()
				if err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	got := 0
	for _, recs := range kept {
		for _, rec := range recs {
			got += int(rec.NumRows())
			rec.Release()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if got != wantRows {
		return fmt.Errorf("arrow/csv read %d rows of %s, want %d", got, path, wantRows)
	}
	return nil
}

// jsonDecode times a one-row breast cancer request (30 float64
// features) through serve's InputSchema.DecodeJSON and through
// encoding/json, alternately, best of five runs of 20,000 each.
func jsonDecode() (line, error) {
	names := bcNames()
	feats := make([]checkpoint.Feature, len(names))
	row := map[string]float64{}
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
		row[n] = float64(j+1)*1.37 + 0.001
	}
	body, _ := json.Marshal([]map[string]float64{row})
	in, err := serve.NewInputSchema(feats)
	if err != nil {
		return line{}, err
	}
	const n = 20000
	ours, theirs := pair(5, func() error {
		for range n {
			rec, err := in.DecodeJSON(body)
			if err != nil {
				return err
			}
			rec.Release()
		}
		return nil
	}, func() error {
		for range n {
			var v []map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				return err
			}
		}
		return nil
	})
	if ours.err != nil {
		return line{}, ours.err
	}
	mb := float64(len(body)) * n / 1e6
	return line{fmt.Sprintf("JSON 1-row request (%dB)", len(body)), mb / ours.secs, mb / theirs.secs, "MB/s",
		"encoding/json into []map[string]any, no checks, no record"}, nil
}

// bcNames are the breast cancer data set's feature names, as a served
// model's request carries them.
func bcNames() []string {
	var names []string
	for _, kind := range []string{"mean", "error", "worst"} {
		for _, f := range []string{"radius", "texture", "perimeter", "area", "smoothness", "compactness",
			"concavity", "concave points", "symmetry", "fractal dimension"} {
			names = append(names, kind+" "+f)
		}
	}
	return names
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// timePandas times pandas.read_csv inside python (interpreter start-up
// excluded), or says why it could not.
func timePandas(path string) (float64, string) {
	script := `import sys, time
import pandas
t = time.perf_counter()
df = pandas.read_csv(sys.argv[1])
print(pandas.__version__, time.perf_counter() - t, len(df))`
	// The python3 on PATH may be a pyenv one without Debian's pandas.
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		bin, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		out, err := exec.Command(bin, "-c", script, path).CombinedOutput()
		if err != nil {
			continue
		}
		f := strings.Fields(strings.TrimSpace(string(out)))
		if len(f) < 2 {
			continue
		}
		secs, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		return secs, f[0] + " read_csv"
	}
	return 0, "not measured: pandas not importable (apt-get install python3-pandas)"
}

func collect(ctx context.Context, ds *data.Dataset) ([]arrow.Record, error) {
	var recs []arrow.Record
	for b, err := range ds.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			return nil, err
		}
		b.Retain()
		recs = append(recs, b)
	}
	return recs, nil
}

func scale(ctx context.Context, b arrow.Record) (arrow.Record, error) {
	cols := make([]arrow.Array, b.NumCols())
	for i, c := range b.Columns() {
		src := c.(*array.Float64).Float64Values()
		vals := make([]float64, len(src))
		for j, v := range src {
			vals[j] = v * 2
		}
		d := array.NewData(arrow.PrimitiveTypes.Float64, len(vals), []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(vals))}, nil, 0, 0)
		cols[i] = array.NewFloat64Data(d)
		d.Release()
	}
	rec := array.NewRecord(b.Schema(), cols, b.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

func addKey(ctx context.Context, b arrow.Record) (arrow.Record, error) {
	c0 := b.Column(0).(*array.Float64).Float64Values()
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	defer kb.Release()
	kb.Reserve(len(c0))
	for _, v := range c0 {
		kb.UnsafeAppend(int64(v))
	}
	k := kb.NewArray()
	defer k.Release()
	fields := append([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, b.Schema().Fields()[1:3]...)
	return array.NewRecord(arrow.NewSchema(fields, nil), []arrow.Array{k, b.Column(1), b.Column(2)}, b.NumRows()), nil
}

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}
