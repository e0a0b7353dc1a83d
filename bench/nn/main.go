// Command nn-bench measures training and inference throughput of the CIFAR
// CNN (conv 3→32, pool, conv 32→64, pool, dense 4096→128→10) on synthetic
// 3×32×32 images, batch 64, SGD momentum 0.9, beside PyTorch on CPU with 2
// threads on the same images in the same run, when a python3 with torch is
// installed (Debian: apt-get install python3-torch).
//
//	go run ./bench/nn [-images 10000] [-rounds 16] [-single=false] [-no-torch]
//
// The machine this runs on is shared, and its load changes from second to
// second. So the contenders take turns: in each round every contender trains
// (then infers) a fixed number of batches, the order rotating from round to
// round, and each rate is images over the contender's own time. Epoch times
// are 10,000 images over that rate.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/examples/cifar/cifar10"
	"github.com/goray/goray/train/nn"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nn-bench:", err)
		os.Exit(1)
	}
}

// CNN is the example's architecture.
func CNN() nn.Spec {
	return nn.Sequential([]int{3, 32, 32},
		nn.Conv2D(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
		nn.Conv2D(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
		nn.Flatten(), nn.Dense(4096, 128), nn.ReLU(), nn.Dense(128, 10))
}

const batch = 64

// contender is one framework configuration taking turns.
type contender interface {
	name() string
	train(batches int) (time.Duration, error) // next batches of its shuffled epoch
	infer(batches int) (time.Duration, error) // next batches of the images, in order
	accuracy() (float64, error)               // on the first 2,000 images, inference mode
	close()
}

type tally struct {
	trainImages, inferImages int
	trainTime, inferTime     time.Duration
	acc                      float64
}

func run(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("nn-bench", flag.ContinueOnError)
	images := fs.Int("images", 10000, "synthetic images (the epoch)")
	rounds := fs.Int("rounds", 16, "turns each contender takes")
	trainBatches := fs.Int("train-batches", 5, "training batches per turn")
	inferBatches := fs.Int("infer-batches", 10, "inference batches per turn")
	skipTorch := fs.Bool("no-torch", false, "do not run the PyTorch baseline")
	single := fs.Bool("single", true, "also measure one graph per worker and PyTorch with 1 thread (what the second core gives each)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nn-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	set := cifar10.Synthetic(*images, 1)
	dataFile := filepath.Join(tmp, "data.bin")
	if err := cifar10.WriteFile(dataFile, set); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CNN on %d synthetic 3x32x32 images, batch %d, SGD momentum 0.9; GOMAXPROCS=%d, sgemm: %s\n",
		*images, batch, runtime.GOMAXPROCS(0), nn.BLAS())

	var cs []contender
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	g2, err := newGoContender(ctx, set, 2, tmp)
	if err != nil {
		return err
	}
	cs = append(cs, g2)
	if *single {
		g1, err := newGoContender(ctx, set, 1, tmp)
		if err != nil {
			return err
		}
		cs = append(cs, g1)
	}
	torchAt := -1
	if !*skipTorch {
		t2, err := newTorchContender(ctx, dataFile, 2, tmp)
		if err != nil {
			fmt.Fprintf(stdout, "PyTorch baseline not run: %v\n", err)
		} else {
			torchAt = len(cs)
			cs = append(cs, t2)
			if *single {
				if t1, err := newTorchContender(ctx, dataFile, 1, tmp); err == nil {
					cs = append(cs, t1)
				}
			}
		}
	}

	tallies := make([]tally, len(cs))
	for r := 0; r < *rounds; r++ {
		for i := range cs {
			k := (i + r) % len(cs) // rotate the order
			d, err := cs[k].train(*trainBatches)
			if err != nil {
				return fmt.Errorf("%s: %w", cs[k].name(), err)
			}
			tallies[k].trainTime += d
			tallies[k].trainImages += *trainBatches * batch
		}
	}
	for r := 0; r < *rounds; r++ {
		for i := range cs {
			k := (i + r) % len(cs)
			d, err := cs[k].infer(*inferBatches)
			if err != nil {
				return fmt.Errorf("%s: %w", cs[k].name(), err)
			}
			tallies[k].inferTime += d
			tallies[k].inferImages += *inferBatches * batch
		}
	}
	for k, c := range cs {
		if tallies[k].acc, err = c.accuracy(); err != nil {
			return fmt.Errorf("%s: %w", c.name(), err)
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttrain img/s\ts/epoch\tinfer img/s\ttrain acc\tepoch time ÷ PyTorch\tinfer speed ÷ PyTorch\t")
	for k, c := range cs {
		t := tallies[k]
		trainRate := float64(t.trainImages) / t.trainTime.Seconds()
		inferRate := float64(t.inferImages) / t.inferTime.Seconds()
		ratioT, ratioI := "n/a", "n/a"
		if torchAt >= 0 {
			tt := tallies[torchAt]
			ratioT = fmt.Sprintf("%.2fx", (float64(*images)/trainRate)/(float64(*images)/(float64(tt.trainImages)/tt.trainTime.Seconds())))
			ratioI = fmt.Sprintf("%.2fx", inferRate/(float64(tt.inferImages)/tt.inferTime.Seconds()))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.0f\t%.3f\t%s\t%s\t\n", c.name(), trainRate, float64(*images)/trainRate, inferRate, t.acc, ratioT, ratioI)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "each contender trained %d and inferred %d images in %d alternating turns; train acc: first 2,000 images after that training\n",
		*rounds**trainBatches*batch, *rounds**inferBatches*batch, *rounds)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(stdout, "load average at the end: %s", load)
	}
	fmt.Fprintln(stdout, "targets: epoch time ÷ PyTorch (2 threads) <= 1.5x; inference speed ÷ PyTorch >= 1.0x (higher is faster)")
	return nil
}

// goContender trains one worker with `replicas` graphs and infers through a
// Predictor loaded from a checkpoint of the same model.
type goContender struct {
	ctx      context.Context
	replicas int
	set      *cifar10.Set
	raw, xn  []float32
	labels   []int32
	l        *nn.Learner
	rng      *rand.Rand
	perm     []int
	pos      int // next image of the training epoch
	ipos     int // next image to infer
	bx       []float32
	by       []int32
	tmp      string
	pred     *nn.Predictor
	norm     nn.Normalization
}

func newGoContender(ctx context.Context, set *cifar10.Set, replicas int, tmp string) (*goContender, error) {
	spec := CNN()
	m, err := nn.NewModel(spec, 1)
	if err != nil {
		return nil, err
	}
	l, err := nn.NewLearner(m, nn.LearnerConfig{Optimizer: nn.SGD(0.01, 0.9), Replicas: replicas})
	if err != nil {
		return nil, err
	}
	g := &goContender{ctx: ctx, replicas: replicas, set: set, raw: set.Float32(), l: l, rng: rand.New(rand.NewPCG(1, 2)), tmp: tmp,
		norm: nn.Normalization{Scale: 1.0 / 255, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.25, 0.25, 0.25}}}
	g.xn = append([]float32(nil), g.raw...)
	g.norm.Apply(g.xn, spec.Input)
	g.labels = make([]int32, set.Len())
	for i, y := range set.Labels {
		g.labels[i] = int32(y)
	}
	g.bx, g.by = make([]float32, batch*spec.InputSize()), make([]int32, batch)
	if _, err := g.train(3); err != nil { // warm-up: graphs built, buffers allocated
		return nil, err
	}
	return g, nil
}

func (g *goContender) name() string {
	if g.replicas == 1 {
		return "goray nn, 1 graph/worker"
	}
	return fmt.Sprintf("goray nn, %d graphs/worker", g.replicas)
}

func (g *goContender) train(batches int) (time.Duration, error) {
	in := CNN().InputSize()
	n := len(g.labels)
	start := time.Now()
	for b := 0; b < batches; b++ {
		if g.perm == nil || g.pos+batch > n {
			g.perm, g.pos = g.rng.Perm(n), 0
		}
		for i, p := range g.perm[g.pos : g.pos+batch] {
			copy(g.bx[i*in:(i+1)*in], g.xn[p*in:(p+1)*in])
			g.by[i] = g.labels[p]
		}
		g.pos += batch
		if _, err := g.l.Step(g.ctx, nn.Batch{X: g.bx, Labels: g.by}, nn.LocalReducer{}); err != nil {
			return 0, err
		}
	}
	g.pred = nil // weights changed
	return time.Since(start), nil
}

func (g *goContender) predictor() (*nn.Predictor, error) {
	if g.pred != nil {
		return g.pred, nil
	}
	spec := CNN()
	dir, err := os.MkdirTemp(g.tmp, "ckpt")
	if err != nil {
		return nil, err
	}
	if _, err := g.l.Save(filepath.Join(dir, "c"), nn.SaveOptions{Normalization: &g.norm, Classes: cifar10.ClassNames}); err != nil {
		return nil, err
	}
	ck, err := checkpoint.FromDirectory(filepath.Join(dir, "c"))
	if err != nil {
		return nil, err
	}
	if g.pred, err = nn.LoadPredictor(ck, &spec); err != nil {
		return nil, err
	}
	if _, err := g.pred.Scores(g.ctx, g.raw[:batch*spec.InputSize()], batch); err != nil { // warm-up
		return nil, err
	}
	return g.pred, nil
}

func (g *goContender) infer(batches int) (time.Duration, error) {
	p, err := g.predictor()
	if err != nil {
		return 0, err
	}
	in := CNN().InputSize()
	n := len(g.labels)
	start := time.Now()
	for b := 0; b < batches; b++ {
		if g.ipos+batch > n {
			g.ipos = 0
		}
		if _, err := p.Scores(g.ctx, g.raw[g.ipos*in:(g.ipos+batch)*in], batch); err != nil {
			return 0, err
		}
		g.ipos += batch
	}
	return time.Since(start), nil
}

func (g *goContender) accuracy() (float64, error) {
	p, err := g.predictor()
	if err != nil {
		return 0, err
	}
	n := min(2000, len(g.labels))
	in := CNN().InputSize()
	scores, err := p.Scores(g.ctx, g.raw[:n*in], n)
	if err != nil {
		return 0, err
	}
	correct := 0
	for i := 0; i < n; i++ {
		row := scores[i*10 : (i+1)*10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int32(best) == g.labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(n), nil
}

func (g *goContender) close() {}

// torchScript serves commands on stdin: "train K", "infer K", "acc", one
// JSON line answered per command.
const torchScript = `
import json, sys, time
import numpy as np
import torch
import torch.nn as nn
threads = int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
bs = 64
raw = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(-1, 3073)
y = torch.from_numpy(raw[:, 0].astype(np.int64))
x = torch.from_numpy(raw[:, 1:].astype(np.float32).reshape(-1, 3, 32, 32))
x = (x / 255.0 - 0.5) / 0.25
n = x.shape[0]
model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4096, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
lossf = nn.CrossEntropyLoss()
perm, pos, ipos = None, 0, 0
def train(k):
    global perm, pos
    model.train()
    t = time.perf_counter()
    for _ in range(k):
        if perm is None or pos + bs > n:
            perm, pos = torch.randperm(n), 0
        idx = perm[pos:pos + bs]
        pos += bs
        opt.zero_grad()
        loss = lossf(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - t
def infer(k):
    global ipos
    model.eval()
    with torch.no_grad():
        t = time.perf_counter()
        for _ in range(k):
            if ipos + bs > n:
                ipos = 0
            model(x[ipos:ipos + bs])
            ipos += bs
        return time.perf_counter() - t
def acc():
    model.eval()
    m = min(2000, n)
    with torch.no_grad():
        return float((model(x[:m]).argmax(1) == y[:m]).float().mean())
train(3)
infer(1)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "train":
        print(json.dumps({"s": train(int(cmd[1]))}), flush=True)
    elif cmd[0] == "infer":
        print(json.dumps({"s": infer(int(cmd[1]))}), flush=True)
    elif cmd[0] == "acc":
        print(json.dumps({"acc": acc()}), flush=True)
    else:
        break
`

type torchContender struct {
	threads int
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
}

// newTorchContender starts the PyTorch side with the first python3 that
// imports torch.
func newTorchContender(ctx context.Context, dataFile string, threads int, tmp string) (*torchContender, error) {
	script := filepath.Join(tmp, "torch_bench.py")
	if err := os.WriteFile(script, []byte(torchScript), 0o644); err != nil {
		return nil, err
	}
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.CommandContext(ctx, py, "-c", "import torch").Run(); err != nil {
			tried = append(tried, py)
			continue
		}
		cmd := exec.CommandContext(ctx, py, script, dataFile, fmt.Sprint(threads))
		cmd.Env = append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("MKL_NUM_THREADS=%d", threads))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		t := &torchContender{threads: threads, cmd: cmd, in: in, out: bufio.NewScanner(out)}
		var ready struct{ Ready bool }
		if err := t.read(&ready); err != nil || !ready.Ready {
			t.close()
			return nil, fmt.Errorf("%s %s did not start: %v", py, script, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("no python3 with torch found (tried %s; apt-get install python3-torch)", strings.Join(tried, ", "))
}

func (t *torchContender) read(v any) error {
	if !t.out.Scan() {
		if err := t.out.Err(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	return json.Unmarshal(t.out.Bytes(), v)
}

func (t *torchContender) do(cmd string) (time.Duration, error) {
	if _, err := fmt.Fprintln(t.in, cmd); err != nil {
		return 0, err
	}
	var r struct{ S float64 }
	if err := t.read(&r); err != nil {
		return 0, err
	}
	return time.Duration(r.S * float64(time.Second)), nil
}

func (t *torchContender) name() string {
	if t.threads == 2 {
		return "PyTorch CPU, 2 threads (yardstick)"
	}
	return fmt.Sprintf("PyTorch CPU, %d thread(s)", t.threads)
}

func (t *torchContender) train(batches int) (time.Duration, error) {
	return t.do(fmt.Sprintf("train %d", batches))
}

func (t *torchContender) infer(batches int) (time.Duration, error) {
	return t.do(fmt.Sprintf("infer %d", batches))
}

func (t *torchContender) accuracy() (float64, error) {
	if _, err := fmt.Fprintln(t.in, "acc"); err != nil {
		return 0, err
	}
	var r struct{ Acc float64 }
	return r.Acc, t.read(&r)
}

func (t *torchContender) close() {
	fmt.Fprintln(t.in, "quit")
	t.in.Close()
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
}
