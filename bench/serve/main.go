// Command serve measures goray serve against the ceiling, on the demo's
// own configuration: the breast cancer job of examples/breast_cancer
// (a StandardScaler on "mean radius" and "mean texture" fitted by the gbdt
// trainer and stored in its checkpoint, 20 trees) served by
// serve.PredictorDeployment with 2 replicas and the default
// MaxOngoingRequests, beside a bare handler (chi, encoding/json, the same
// scaling written inline, leaves on the same checkpoint's trees) in the
// same process and the same run. Both must answer the same bytes.
//
//	go run ./bench/serve                       # wrk -t2 -c64 -d5s, then open loop at 2,000 requests/s
//	go run ./bench/serve -rounds 3 -duration 10s
//	go run ./bench/serve -only demo -cpuprofile cpu.out   # profile the served side under wrk
//
// Two kinds of run, each alternating the sides for -rounds rounds (other
// programs share the CPU; the best of each side is reported, with the
// load average at the time):
//   - closed loop, throughput: wrk -t2 -c64 -d5s --latency, a separate
//     process on the same cores, as a user would measure it (apt-get
//     install wrk brings it). Without wrk, the in-process Go load
//     generator runs the closed loop instead. A third server, net/http
//     answering a fixed body, is measured too: the floor that HTTP alone
//     sets (the bare handler spends most of its time in encoding/json).
//   - open loop at a fixed rate (-rate, default 2,000 requests/s) from the
//     in-process Go load generator: requests are scheduled at fixed times
//     over -conns keep-alive connections, latency counts from the moment
//     the request is written (and, beside it, from the moment it was due).
//     A request that could not be sent on time because its connection was
//     still busy is a late send; with the p99 of how late the generator's
//     own timers woke, it says when the generator, not the server,
//     saturated, and the output says so.
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
	"os/exec"
	"path/filepath"
	"regexp"
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
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train"
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
	conns, threads   int
	procs, rounds    int
	rows, depth      int
	replicas         int
	maxOngoing       int
	rate             float64
	data, cpuprofile string
	only, wrk        string
}

const route = "/predict"

func run(ctx context.Context, out io.Writer, args []string) error {
	var cfg config
	fs := flag.NewFlagSet("bench/serve", flag.ContinueOnError)
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time per side and run")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&cfg.conns, "conns", 64, "concurrent keep-alive connections (wrk -c, and the open loop's)")
	fs.IntVar(&cfg.threads, "threads", 2, "wrk threads (wrk -t)")
	fs.IntVar(&cfg.procs, "procs", 2, "GOMAXPROCS of this process (both servers and the Go load generator)")
	fs.IntVar(&cfg.rounds, "rounds", 2, "rounds per side and kind of run, alternating sides; the best of each is reported")
	fs.IntVar(&cfg.rows, "rows", 1, "rows per request")
	fs.IntVar(&cfg.depth, "depth", 6, "max_depth of the demo's model (the demo tunes it in [1, 9))")
	fs.IntVar(&cfg.replicas, "replicas", 2, "replicas of the PredictorDeployment (the demo's: 2)")
	fs.IntVar(&cfg.maxOngoing, "max-ongoing", 0, "MaxOngoingRequests of the deployment (0: serve's default, as the demo)")
	fs.Float64Var(&cfg.rate, "rate", 2000, "open-loop requests/s for the latency run")
	fs.StringVar(&cfg.data, "data", "train/gbdt/testdata/breast_cancer.csv", "breast cancer CSV (features..., target)")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the runs (wrk runs outside it)")
	fs.StringVar(&cfg.only, "only", "", "load one side only, closed loop, no table: bare or demo (for profiling)")
	fs.StringVar(&cfg.wrk, "wrk", "wrk", "the wrk binary; empty: use the Go load generator for the closed loop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.only != "" && cfg.only != "bare" && cfg.only != "demo" {
		return fmt.Errorf("-only %q: want bare or demo", cfg.only)
	}
	runtime.GOMAXPROCS(cfg.procs)
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))

	wrkPath := ""
	if cfg.wrk != "" {
		if p, err := exec.LookPath(cfg.wrk); err == nil {
			wrkPath = p
		} else {
			fmt.Fprintf(out, "wrk not found (%v): `apt-get install wrk` brings it; the closed loop uses the in-process Go load generator instead\n\n", err)
		}
	}

	dir, err := os.MkdirTemp("", "goray-bench-serve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	ckpt, err := trainDemo(ctx, dir, cfg.data, cfg.depth)
	if err != nil {
		return err
	}
	bare, desc, err := startBare(ckpt)
	if err != nil {
		return err
	}
	defer bare.Close()

	d := serve.PredictorDeployment(ckpt, gbdt.PredictorFactory, nil)
	d.Name, d.RoutePrefix, d.NumReplicas = "breast_cancer", route, cfg.replicas
	d.MaxOngoingRequests = cfg.maxOngoing
	srv, err := serve.Start(ctx, serve.NewApp(d), serve.HTTPOptions{Port: serve.AnyPort})
	if err != nil {
		return err
	}
	defer srv.Close()

	body, err := requestBody(cfg.data, cfg.rows)
	if err != nil {
		return err
	}
	// Both answer the same thing.
	a, err := oneShot(bare.Addr().String(), route, body)
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	b, err := oneShot(srv.Addr(), route, body)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("answers differ:\n bare:  %s\n serve: %s", a, b)
	}

	maxOngoing := "default " + strconv.Itoa(serve.DefaultMaxOngoingRequests)
	if cfg.maxOngoing > 0 {
		maxOngoing = strconv.Itoa(cfg.maxOngoing)
	}
	floor, err := startFloor(a)
	if err != nil {
		return err
	}
	defer floor.Close()
	sides := []side{
		{"bare chi + encoding/json + scaler + leaves", bare.Addr().String()},
		{fmt.Sprintf("serve demo (%d replicas, MaxOngoing %s)", cfg.replicas, maxOngoing), srv.Addr()},
	}
	// The floor is only run closed loop, for scale: what HTTP alone costs.
	floorSide := side{"net/http floor (reads body, fixed answer)", floor.Addr().String()}
	fmt.Fprintf(out, "goray serve bench, the demo's configuration: %s\n", desc)
	fmt.Fprintf(out, "%d-row JSON records request (%d bytes) POSTed to %s; answer %s\n", cfg.rows, len(body), route, a)
	fmt.Fprintf(out, "GOMAXPROCS=%d for both servers (and the Go load generator), %d CPUs on the machine, %s/%s\n\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)

	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	closedLoop := func(s side) (result, error) {
		if wrkPath != "" {
			return runWrk(ctx, wrkPath, dir, s.addr, body, cfg)
		}
		return load(s.addr, route, body, cfg.conns, cfg.warmup, cfg.duration, 0)
	}
	gen := "in-process Go load generator, " + strconv.Itoa(cfg.conns) + " connections"
	if wrkPath != "" {
		gen = fmt.Sprintf("wrk -t%d -c%d -d%v --latency (%s)", cfg.threads, cfg.conns, cfg.duration, wrkPath)
	}
	if cfg.only != "" {
		s := sides[0]
		if cfg.only == "demo" {
			s = sides[1]
		}
		res, err := closedLoop(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s under %s: %.0f requests/s, p50 %s, p99 %s, %d errors; loadavg %s\n",
			s.name, gen, res.rps, ms(res.p50), ms(res.p99), res.errors, res.loadavg)
		return nil
	}

	closedSides := append(slices.Clone(sides), floorSide)
	closed := make([]result, len(closedSides))
	for r := range cfg.rounds {
		for i, s := range closedSides {
			res, err := closedLoop(s)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if r == 0 || res.rps > closed[i].rps {
				closed[i] = res
			}
		}
	}
	open := make([]result, len(sides))
	for r := range cfg.rounds {
		for i, s := range sides {
			res, err := load(s.addr, route, body, cfg.conns, cfg.warmup, cfg.duration, cfg.rate)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if r == 0 || res.p99 < open[i].p99 {
				open[i] = res
			}
		}
	}

	fmt.Fprintf(out, "closed loop: %s; best of %d rounds\n", gen, cfg.rounds)
	fmt.Fprintf(out, "  %-46s %12s %10s %10s %8s %12s  %s\n", "", "requests/s", "p50", "p99", "errors", "server CPU/req", "loadavg (1, 5, 15 min) after the run")
	for i, s := range closedSides {
		r := closed[i]
		fmt.Fprintf(out, "  %-46s %12.0f %10s %10s %8d %12s  %s\n", s.name, r.rps, ms(r.p50), ms(r.p99), r.errors, us(r.cpuPerReq), r.loadavg)
	}
	tput := closed[1].rps / closed[0].rps
	for _, x := range []struct {
		name string
		base result
	}{{"ratio demo/bare", closed[0]}, {"ratio demo/floor", closed[2]}} {
		fmt.Fprintf(out, "  %-46s %11.2fx %9.2fx %9.2fx %8s %11.2fx\n", x.name, closed[1].rps/x.base.rps, ratio(closed[1].p50, x.base.p50),
			ratio(closed[1].p99, x.base.p99), "", ratio(closed[1].cpuPerReq, x.base.cpuPerReq))
	}
	if wrkPath != "" {
		fmt.Fprintf(out, "  (server CPU/req: this process's user+system CPU during the wrk run over the requests answered; wrk runs outside it)\n")
	}

	fmt.Fprintf(out, "\nopen loop at %.0f requests/s over %d connections, in-process Go load generator; best p99 of %d rounds\n", cfg.rate, cfg.conns, cfg.rounds)
	fmt.Fprintf(out, "  %-46s %10s %10s %10s %10s %14s %10s %12s  %s\n", "", "achieved/s", "p50", "p99", "p99.9", "p99 from due", "late sends", "timer p99", "loadavg after")
	for i, s := range sides {
		r := open[i]
		fmt.Fprintf(out, "  %-46s %10.0f %10s %10s %10s %14s %10d %12s  %s\n", s.name, r.rps, ms(r.p50), ms(r.p99), ms(r.p999),
			ms(r.p99Due), r.late, ms(r.wakeP99), r.loadavg)
	}
	for i, s := range sides {
		if why := saturated(open[i], cfg.rate, cfg.duration); why != "" {
			fmt.Fprintf(out, "  %s: the load generator itself saturated (%s): this p99 measures the shared machine as much as the server\n", s.name, why)
		}
	}

	fmt.Fprintf(out, "\ntarget: demo >= 0.80x the bare handler's requests/s: %.2fx (%s); open-loop p99 < 1 ms at %.0f/s: %s (%s)\n",
		tput, verdict(tput >= 0.8), cfg.rate, ms(open[1].p99), verdict(open[1].p99 < time.Millisecond))
	return nil
}

type side struct{ name, addr string }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// saturated says why the open loop's load generator could not keep to its
// schedule, or "" if it did: more than 1% of sends late, timers waking
// more than a millisecond late at p99, or under 95% of the rate achieved.
func saturated(r result, rate float64, dur time.Duration) string {
	var why []string
	want := rate * dur.Seconds()
	if float64(r.late) > 0.01*want {
		why = append(why, fmt.Sprintf("%d of %.0f sends late by more than 1ms", r.late, want))
	}
	if r.wakeP99 > time.Millisecond {
		why = append(why, "its timers woke "+ms(r.wakeP99)+" late at p99")
	}
	if r.rps < 0.95*rate {
		why = append(why, fmt.Sprintf("it sent %.0f/s of the %.0f/s asked", r.rps, rate))
	}
	return strings.Join(why, "; ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }

func us(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/1e3)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// trainDemo trains the demo's model the way examples/breast_cancer does
// (gbdt trainer with a StandardScaler preprocessor, binary:logistic, eta
// 0.3, 20 rounds), at a fixed max_depth, and returns its checkpoint.
func trainDemo(ctx context.Context, dir, path string, depth int) (*checkpoint.Checkpoint, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w (run from the repository root or pass -data)", err)
	}
	ds, err := data.ReadCSV(ctx, path)
	if err != nil {
		return nil, err
	}
	trainDS, validDS, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		return nil, err
	}
	trainer, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn: "target",
		Params: map[string]any{
			"objective": "binary:logistic", "eval_metric": []string{"logloss"},
			"eta": 0.3, "max_depth": depth,
		},
		NumBoostRound: 20,
		Datasets:      map[string]*data.Dataset{"train": trainDS, "valid": validDS},
		Preprocessor:  &preprocess.StandardScaler{Columns: []string{"mean radius", "mean texture"}},
		ScalingConfig: train.ScalingConfig{NumWorkers: 1},
		RunConfig:     train.RunConfig{Name: "bench", StoragePath: dir},
	})
	if err != nil {
		return nil, err
	}
	res, err := trainer.Fit(ctx)
	if err != nil {
		return nil, err
	}
	if res.Checkpoint == nil {
		return nil, errors.New("training reported no checkpoint")
	}
	return res.Checkpoint, nil
}

// requestBody is the first rows of the CSV's features as JSON records,
// keys sorted as json.Marshal writes a map (as the demo's own POST does).
func requestBody(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if n < 1 || n >= len(recs) {
		return nil, fmt.Errorf("-rows %d: the CSV has %d rows", n, len(recs)-1)
	}
	names := recs[0]
	rows := make([]map[string]float64, n)
	for i, rec := range recs[1 : n+1] {
		rows[i] = map[string]float64{}
		for j, s := range rec {
			if names[j] == "target" {
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%s line %d column %d: %w", path, i+2, j+1, err)
			}
			rows[i][names[j]] = v
		}
	}
	return json.Marshal(rows)
}

// bareServer is the ceiling: chi, encoding/json, the checkpoint's scaler
// written out, leaves, nothing else.
type bareServer struct {
	ln  net.Listener
	srv *http.Server
}

func (b *bareServer) Addr() net.Addr { return b.ln.Addr() }
func (b *bareServer) Close()         { b.srv.Close() }

func startBare(ckpt *checkpoint.Checkpoint) (*bareServer, string, error) {
	bst, err := gbdt.BoosterFromCheckpoint(ckpt)
	if err != nil {
		return nil, "", err
	}
	names := bst.Features()
	var buf bytes.Buffer
	if err := bst.SaveLightGBM(&buf); err != nil {
		return nil, "", err
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(&buf), true)
	if err != nil {
		return nil, "", err
	}
	pre, err := train.LoadPreprocessor(ckpt)
	if err != nil {
		return nil, "", err
	}
	scaler, ok := pre.(*preprocess.StandardScaler)
	if !ok {
		return nil, "", fmt.Errorf("checkpoint preprocessor is %T, want the demo's *preprocess.StandardScaler", pre)
	}
	// mean and scale per model column; scale 0 marks a column left as is.
	mean, scale := make([]float64, len(names)), make([]float64, len(names))
	for j, n := range names {
		if st, ok := scaler.Stats[n]; ok {
			mean[j], scale[j] = st.Mean, st.Scale
		}
	}
	r := chi.NewRouter()
	r.Post(route, func(w http.ResponseWriter, r *http.Request) {
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
				if scale[j] != 0 {
					v = (v - mean[j]) / scale[j]
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
		return nil, "", err
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	desc := fmt.Sprintf("gbdt trainer on breast cancer (80%% of 569 rows, 30 features) with StandardScaler%v, binary:logistic, %d trees",
		scaler.Columns, ens.NEstimators())
	return &bareServer{ln: ln, srv: srv}, desc, nil
}

// startFloor serves answer to every POST after reading the body: the
// HTTP server's own cost, with no decoding and no model.
func startFloor(answer []byte) (*bareServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+route, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return &bareServer{ln: ln, srv: srv}, nil
}

// runWrk runs wrk for the warm-up, then for the measurement, against addr.
func runWrk(ctx context.Context, wrk, dir, addr string, body []byte, cfg config) (result, error) {
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [==[%s]==]\n", body)
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		return result{}, err
	}
	url := "http://" + addr + route
	wrkRun := func(d time.Duration, latency bool) ([]byte, error) {
		secs := max(int((d+time.Second-1)/time.Second), 1)
		args := []string{"-t", strconv.Itoa(cfg.threads), "-c", strconv.Itoa(cfg.conns), "-d", strconv.Itoa(secs) + "s", "-s", script}
		if latency {
			args = append(args, "--latency")
		}
		cmd := exec.CommandContext(ctx, wrk, append(args, url)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return b, fmt.Errorf("%s: %w: %s", wrk, err, stderr.Bytes())
		}
		return b, nil
	}
	if cfg.warmup > 0 {
		if _, err := wrkRun(cfg.warmup, false); err != nil {
			return result{}, err
		}
	}
	cpu0 := cpuTime()
	b, err := wrkRun(cfg.duration, true)
	cpu := cpuTime() - cpu0
	if err != nil {
		return result{}, err
	}
	res, err := parseWrk(b)
	res.loadavg = loadavg()
	if res.requests > 0 {
		res.cpuPerReq = cpu / time.Duration(res.requests)
	}
	if err != nil {
		return res, fmt.Errorf("%w; wrk said:\n%s", err, b)
	}
	return res, nil
}

var (
	wrkRPS     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkTotal   = regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	wrkNon2xx  = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErr = regexp.MustCompile(`(?m)Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads requests/s, p50, p99 and errors from wrk --latency's output.
func parseWrk(b []byte) (result, error) {
	var res result
	m := wrkRPS.FindSubmatch(b)
	if m == nil {
		return res, errors.New("no Requests/sec in wrk's output")
	}
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range wrkPct.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[string(m[3])]
		d := time.Duration(v * unit)
		if string(m[1]) == "50" {
			res.p50 = d
		} else {
			res.p99 = d
		}
	}
	if res.p99 == 0 {
		return res, errors.New("no latency distribution in wrk's output")
	}
	if m := wrkTotal.FindSubmatch(b); m != nil {
		res.requests, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkNon2xx.FindSubmatch(b); m != nil {
		res.errors, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkSockErr.FindSubmatch(b); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(string(s))
			res.errors += n
		}
	}
	return res, nil
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
	p99Due         time.Duration // open loop: p99 counted from when the request was due
	errors         int
	requests       int           // answered in the measurement (wrk)
	cpuPerReq      time.Duration // wrk: this process's CPU (the servers only) per request
	late           int           // open loop: sends more than 1ms behind schedule
	wakeP99        time.Duration // open loop: p99 of timer wake-up delay
	loadavg        string        // /proc/loadavg at the end of the run
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
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	lats := make([][]time.Duration, conns)
	dues := make([][]time.Duration, conns)
	wakes := make([][]time.Duration, conns)
	lates := make([]int, conns)
	errs := make([]int, conns)
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
			var due, wake []time.Duration
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
					if rate > 0 {
						due = append(due, done.Sub(sched))
					}
				}
			}
			wakes[i], lats[i], dues[i] = wake, own, due
		}()
	}
	wg.Wait()
	res := result{loadavg: loadavg()}
	for _, e := range errs {
		res.errors += e
	}
	all := slices.Concat(lats...)
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
		res.wakeP99 = quantile(w, 0.99)
	}
	if d := slices.Concat(dues...); len(d) > 0 {
		res.p99Due = quantile(d, 0.99)
	}
	res.rps = float64(len(all)) / dur.Seconds()
	res.p50, res.p99, res.p999 = quantile(all, 0.5), quantile(all, 0.99), quantile(all, 0.999)
	return res, nil
}

// quantile sorts v and returns its q-quantile.
func quantile(v []time.Duration, q float64) time.Duration {
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
