// Command serve measures goray serve against the ceiling: requests/s and
// latency of a PredictorDeployment serving a breast cancer GBDT model,
// beside a bare chi handler that decodes the same JSON and calls leaves
// directly, both measured in one run on loopback by a Go load generator
// with keep-alive connections.
//
//	go run ./bench/serve                       # 64 connections, 5 s per side, GOMAXPROCS=2
//	go run ./bench/serve -duration 10s -rounds 3
//
// Two kinds of run:
//   - closed loop: each of -conns connections sends its next request as
//     soon as the last answer arrives; this measures throughput, and its
//     latency is conns/throughput by Little's law.
//   - open loop at a fixed rate (-rate, default half the bare handler's
//     throughput): requests are scheduled at fixed times over the same
//     connections. Latency counts from the moment the request is written
//     (as wrk does); a request that could not be sent on time because its
//     connection was still busy is counted in "late sends", and the p99 of
//     how late the load generator's own timers woke is printed too, since
//     on a busy machine that, not the server, can dominate.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dmitryikh/leaves"
	"github.com/go-chi/chi/v5"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train/gbdt"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, warmup time.Duration
	conns, procs     int
	rounds, rows     int
	rate             float64
	data, cpuprofile string
	replicas         int
	only             string
}

func run(ctx context.Context, out io.Writer, args []string) error {
	var cfg config
	fs := flag.NewFlagSet("bench/serve", flag.ContinueOnError)
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time per side and run")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&cfg.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&cfg.procs, "procs", 2, "GOMAXPROCS for the whole process (server and load generator)")
	fs.IntVar(&cfg.rounds, "rounds", 2, "rounds per side and kind of run, alternating sides; the best of each is reported (other programs share the CPU)")
	fs.IntVar(&cfg.rows, "rows", 1, "rows per request")
	fs.IntVar(&cfg.replicas, "replicas", 2, "replicas of the PredictorDeployment")
	fs.Float64Var(&cfg.rate, "rate", 0, "open-loop requests/s for the latency run (0: half the bare throughput)")
	fs.StringVar(&cfg.data, "data", "train/gbdt/testdata/breast_cancer.csv", "breast cancer CSV (features..., target)")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the runs")
	fs.StringVar(&cfg.only, "only", "", "profile one side: bare or serve (closed loop only, no table)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	runtime.GOMAXPROCS(cfg.procs)
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))

	names, rows, labels, err := readCSV(cfg.data)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "goray-bench-serve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ckpt, model, desc, err := trainModel(ctx, dir, names, rows, labels)
	if err != nil {
		return err
	}

	body := requestBody(names, rows[:cfg.rows])
	bare, err := startBare(model, names)
	if err != nil {
		return err
	}
	defer bare.Close()

	d := serve.PredictorDeployment(ckpt, gbdt.PredictorFactory, nil)
	d.Name, d.RoutePrefix, d.NumReplicas = "bc", "/bc", cfg.replicas
	d.MaxOngoingRequests = cfg.conns
	srv, err := serve.Start(ctx, serve.NewApp(d), serve.HTTPOptions{Port: serve.AnyPort})
	if err != nil {
		return err
	}
	defer srv.Close()

	// Both answer the same thing.
	a, err := oneShot(bare.Addr().String(), "/bc", body)
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	b, err := oneShot(srv.Addr(), "/bc", body)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("answers differ:\n bare:  %s\n serve: %s", a, b)
	}

	fmt.Fprintf(out, "goray serve bench: %s; %d-row JSON records request (%d bytes); answer %s\n", desc, cfg.rows, len(body), a)
	fmt.Fprintf(out, "GOMAXPROCS=%d (server and load generator share them), %d keep-alive connections on loopback, %v per run after %v warm-up, %s/%s\n\n",
		runtime.GOMAXPROCS(0), cfg.conns, cfg.duration, cfg.warmup, runtime.GOOS, runtime.GOARCH)

	sides := []struct {
		name, addr string
	}{
		{"bare chi + encoding/json + leaves (ceiling)", bare.Addr().String()},
		{fmt.Sprintf("serve.PredictorDeployment (%d replicas)", cfg.replicas), srv.Addr()},
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if cfg.only != "" {
		i := map[string]int{"bare": 0, "serve": 1}[cfg.only]
		res, err := load(sides[i].addr, "/bc", body, cfg.conns, cfg.warmup, cfg.duration, 0)
		fmt.Fprintf(out, "%s: %.0f requests/s, p50 %s, p99 %s, CPU/request %v\n", sides[i].name, res.rps, ms(res.p50), ms(res.p99), res.cpuPerReq)
		return err
	}
	closed := make([]result, len(sides))
	for r := range cfg.rounds {
		for i, s := range sides {
			res, err := load(s.addr, "/bc", body, cfg.conns, cfg.warmup, cfg.duration, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if r == 0 || res.rps > closed[i].rps {
				closed[i] = res
			}
		}
	}
	rate := cfg.rate
	if rate == 0 {
		rate = closed[0].rps / 2
	}
	open := make([]result, len(sides))
	for r := range cfg.rounds {
		for i, s := range sides {
			res, err := load(s.addr, "/bc", body, cfg.conns, cfg.warmup, cfg.duration, rate)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if r == 0 || res.p99 < open[i].p99 {
				open[i] = res
			}
		}
	}

	fmt.Fprintf(out, "closed loop, %d connections (throughput; best of %d rounds)\n", cfg.conns, cfg.rounds)
	table(out, sides[0].name, sides[1].name, closed)
	fmt.Fprintf(out, "\nopen loop at %.0f requests/s over %d connections (latency from the send; best p99 of %d rounds)\n", rate, cfg.conns, cfg.rounds)
	table(out, sides[0].name, sides[1].name, open)
	for i, s := range sides {
		fmt.Fprintf(out, "  %s: %d late sends (> 1ms behind schedule); load generator timer wake-up p99 %s\n", s.name, open[i].late, ms(open[i].wakeP99))
	}
	fmt.Fprintf(out, "\nCPU/request is the process's user+system CPU (server and load generator) divided by requests answered; "+
		"2-core ceiling = 2 CPU-seconds / CPU per request, the throughput with two cores to ourselves (robust to other programs on the machine).\n")
	fmt.Fprintf(out, "target: serve >= 70%% of the bare throughput: measured %.0f%%, by CPU per request %.0f%%; p99 < 1 ms: open loop %s\n",
		100*closed[1].rps/closed[0].rps, 100*float64(closed[0].cpuPerReq)/float64(closed[1].cpuPerReq), ms(open[1].p99))
	return nil
}

func table(out io.Writer, bareName, serveName string, res []result) {
	fmt.Fprintf(out, "  %-46s %12s %10s %10s %10s %12s %14s %7s\n", "", "requests/s", "p50", "p99", "p99.9", "CPU/request", "2-core ceiling", "errors")
	for i, name := range []string{bareName, serveName} {
		r := res[i]
		fmt.Fprintf(out, "  %-46s %12.0f %10s %10s %10s %10.1fµs %12.0f/s %7d\n", name, r.rps, ms(r.p50), ms(r.p99), ms(r.p999),
			float64(r.cpuPerReq)/1e3, 2*float64(time.Second)/float64(r.cpuPerReq), r.errors)
	}
	fmt.Fprintf(out, "  %-46s %11.2fx %9.2fx %9.2fx %9.2fx %11.2fx %13.2fx\n", "ratio serve/bare", res[1].rps/res[0].rps,
		ratio(res[1].p50, res[0].p50), ratio(res[1].p99, res[0].p99), ratio(res[1].p999, res[0].p999),
		ratio(res[1].cpuPerReq, res[0].cpuPerReq), ratio(res[0].cpuPerReq, res[1].cpuPerReq))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// readCSV reads the breast cancer CSV: feature columns, then target.
func readCSV(path string) ([]string, [][]float64, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (run from the repository root or pass -data)", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, nil, err
	}
	names := recs[0][:len(recs[0])-1]
	var rows [][]float64
	var labels []float64
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, nil, nil, fmt.Errorf("%s line %d column %d: %w", path, i+2, j+1, err)
			}
		}
		rows = append(rows, row[:len(names)])
		labels = append(labels, row[len(names)])
	}
	return names, rows, labels, nil
}

// trainModel fits the breast cancer model with gbdt and returns its
// checkpoint and the same model as a leaves ensemble for the bare handler.
func trainModel(ctx context.Context, dir string, names []string, rows [][]float64, labels []float64) (*checkpoint.Checkpoint, *leaves.Ensemble, string, error) {
	cols := make([][]float64, len(names))
	for j := range names {
		for _, r := range rows {
			cols[j] = append(cols[j], r[j])
		}
	}
	m, err := gbdt.NewMatrix(names, cols, labels)
	if err != nil {
		return nil, nil, "", err
	}
	const rounds = 100
	b, err := gbdt.Train(ctx, m, nil, gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.1}, rounds)
	if err != nil {
		return nil, nil, "", err
	}
	feats := make([]checkpoint.Feature, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
	}
	ckpt, err := b.SaveCheckpoint(filepath.Join(dir, "bc"), gbdt.WithInputFeatures(feats))
	if err != nil {
		return nil, nil, "", err
	}
	var buf bytes.Buffer
	if err := b.SaveLightGBM(&buf); err != nil {
		return nil, nil, "", err
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(&buf), true)
	if err != nil {
		return nil, nil, "", err
	}
	desc := fmt.Sprintf("gbdt.Train breast cancer (569 rows, 30 features), binary:logistic, %d trees of depth <= 6, served by gbdt.NewPredictor (leaves inside)", ens.NEstimators())
	return ckpt, ens, desc, nil
}

func requestBody(names []string, rows [][]float64) []byte {
	recs := make([]map[string]float64, len(rows))
	for i, r := range rows {
		recs[i] = map[string]float64{}
		for j, n := range names {
			recs[i][n] = r[j]
		}
	}
	b, _ := json.Marshal(recs)
	return b
}

// bareServer is the ceiling: chi, encoding/json, leaves, nothing else.
type bareServer struct {
	ln  net.Listener
	srv *http.Server
}

func (b *bareServer) Addr() net.Addr { return b.ln.Addr() }
func (b *bareServer) Close()         { b.srv.Close() }

func startBare(ens *leaves.Ensemble, names []string) (*bareServer, error) {
	r := chi.NewRouter()
	r.Post("/bc", func(w http.ResponseWriter, r *http.Request) {
		var recs []map[string]float64
		if err := json.NewDecoder(r.Body).Decode(&recs); err != nil || len(recs) == 0 {
			http.Error(w, "bad input", http.StatusBadRequest)
			return
		}
		x := make([]float64, len(recs)*len(names))
		for i, rec := range recs {
			for j, n := range names {
				v, ok := rec[n]
				if !ok {
					http.Error(w, "missing feature "+n, http.StatusBadRequest)
					return
				}
				x[i*len(names)+j] = v
			}
		}
		preds := make([]float64, len(recs))
		if err := ens.PredictDense(x, len(recs), len(names), preds, 0, 1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := append(make([]byte, 0, 64), `{"predictions":[`...)
		for i, p := range preds {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendFloat(out, p, 'g', -1, 64)
		}
		out = append(out, "]}"...)
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	return &bareServer{ln: ln, srv: srv}, nil
}

// A minimal HTTP/1.1 keep-alive client, so the load generator spends as
// little of the shared CPU as it can.
type client struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dial(addr, path string, body []byte) (*client, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, addr, len(body))
	return &client{c: c, br: bufio.NewReaderSize(c, 16<<10), req: append(req, body...)}, nil
}

var errStatus = errors.New("non-200 answer")

// do sends the request and reads the answer; it returns the body when
// keep is true.
func (c *client) do(keep bool) ([]byte, error) {
	if _, err := c.c.Write(c.req); err != nil {
		return nil, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	ok := bytes.HasPrefix(line, []byte("HTTP/1.1 200 "))
	cl := -1
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 15 && strings.EqualFold(string(h[:15]), "content-length:") {
			cl, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
	}
	if cl < 0 {
		return nil, errors.New("answer without Content-Length")
	}
	var b []byte
	if keep {
		b = make([]byte, cl)
		_, err = io.ReadFull(c.br, b)
	} else {
		_, err = c.br.Discard(cl)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return b, fmt.Errorf("%w: %s", errStatus, bytes.TrimSpace(line))
	}
	return b, nil
}

func oneShot(addr, path string, body []byte) ([]byte, error) {
	c, err := dial(addr, path, body)
	if err != nil {
		return nil, err
	}
	defer c.c.Close()
	return c.do(true)
}

type result struct {
	rps            float64
	p50, p99, p999 time.Duration
	errors         int
	cpuPerReq      time.Duration // process CPU (user+system) per request, load generator included
	late           int           // open loop: sends more than 1ms behind schedule
	wakeP99        time.Duration // open loop: p99 of timer wake-up delay
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs conns connections against addr for warmup+dur. rate 0 is a
// closed loop; otherwise requests are scheduled at rate per second overall.
func load(addr, path string, body []byte, conns int, warmup, dur time.Duration, rate float64) (result, error) {
	clients := make([]*client, conns)
	for i := range clients {
		c, err := dial(addr, path, body)
		if err != nil {
			return result{}, err
		}
		defer c.c.Close()
		clients[i] = c
	}
	cpu0 := cpuTime()
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	lats := make([][]time.Duration, conns)
	wakes := make([][]time.Duration, conns)
	lates := make([]int, conns)
	errs := make([]int, conns)
	total := make([]int, conns)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var interval time.Duration
			next := start
			if rate > 0 {
				interval = time.Duration(float64(conns) / rate * float64(time.Second))
				next = start.Add(interval * time.Duration(i) / time.Duration(conns)) // spread the connections
			}
			own := make([]time.Duration, 0, 1<<14)
			var wake []time.Duration
			for {
				var sched time.Time
				if rate > 0 {
					d := time.Until(next)
					if d > 0 {
						time.Sleep(d)
					}
					sched = next
					next = next.Add(interval)
					if now := time.Now(); d > 0 && !sched.Before(measureFrom) {
						wake = append(wake, now.Sub(sched))
					} else if d <= -time.Millisecond && !sched.Before(measureFrom) {
						lates[i]++
					}
				} else {
					sched = time.Now()
				}
				if sched.After(end) {
					break
				}
				sent := time.Now()
				_, err := c.do(false)
				done := time.Now()
				total[i]++
				if err != nil {
					errs[i]++
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					if !errors.Is(err, errStatus) {
						return
					}
				} else if !sched.Before(measureFrom) {
					own = append(own, done.Sub(sent))
				}
			}
			wakes[i] = wake
			lats[i] = own
		}()
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	all := slices.Concat(lats...)
	res := result{}
	n := 0
	for _, t := range total {
		n += t
	}
	if n > 0 {
		res.cpuPerReq = cpu / time.Duration(n)
	}
	for _, e := range errs {
		res.errors += e
	}
	if len(all) == 0 {
		return res, fmt.Errorf("no request succeeded: %v", firstErr)
	}
	if res.errors > 0 && firstErr != nil {
		fmt.Fprintf(os.Stderr, "warning: %d errors against %s, first: %v\n", res.errors, addr, firstErr)
	}
	for _, l := range lates {
		res.late += l
	}
	if w := slices.Concat(wakes...); len(w) > 0 {
		slices.Sort(w)
		res.wakeP99 = w[min(len(w)-1, int(0.99*float64(len(w))))]
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	res.rps = float64(len(all)) / dur.Seconds()
	res.p50, res.p99, res.p999 = q(0.5), q(0.99), q(0.999)
	return res, nil
}
