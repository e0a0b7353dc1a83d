// Command nn-bench measures what a user of the CIFAR CNN (conv 3→32, pool,
// conv 32→64, pool, dense 4096→128→10) runs: full training epochs over
// synthetic 3×32×32 images, batch 64, SGD momentum 0.9, and inference over
// all the images at batch 64 and at batch 256, beside PyTorch on CPU with 2
// threads on the same images in the same run, when a python3 with torch is
// installed (Debian: apt-get install python3-torch).
//
//	go run ./bench/nn [-images 10000] [-epochs 2] [-infer-passes 2] [-single] [-no-torch]
//
// The machine this runs on may be shared, and its load changes from second to
// second. So the contenders take turns: each turn is one whole epoch (or one
// whole inference pass over the images), the order rotating from turn to
// turn, and each figure is the sum over a contender's own turns. Beside the
// wall time it reports the CPU time the contender's process used in its turns
// (getrusage for goray, time.process_time for PyTorch), and the load average
// when the run started and ended.
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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/examples/cifar/cifar10"
	"github.com/goray/goray/train"
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

// trainBatch is the training batch size; inferBatches the inference ones.
const trainBatch = 64

var inferBatches = []int{64, 256}

// cost is the wall and CPU time of some turns.
type cost struct{ wall, cpu time.Duration }

func (c *cost) add(d cost) { c.wall += d.wall; c.cpu += d.cpu }

// contender is one framework configuration taking turns.
type contender interface {
	name() string
	trainEpoch() (cost, error)      // one full shuffled epoch, the last batch partial
	inferPass(bs int) (cost, error) // every image once, in order, batches of bs
	accuracy() (float64, error)     // on the first 2,000 images, inference mode
	close()
}

type tally struct {
	train  cost
	epochs int
	infer  map[int]cost // by batch size
	passes map[int]int
	acc    float64
}

func run(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("nn-bench", flag.ContinueOnError)
	images := fs.Int("images", 10000, "synthetic images (the epoch)")
	epochs := fs.Int("epochs", 2, "full training epochs each contender runs (in alternating turns)")
	passes := fs.Int("infer-passes", 2, "full inference passes each contender runs at each batch size")
	skipTorch := fs.Bool("no-torch", false, "do not run the PyTorch baseline")
	single := fs.Bool("single", false, "also measure one graph per worker and PyTorch with 1 thread")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *images < trainBatch || *epochs < 1 || *passes < 1 {
		return fmt.Errorf("-images must be at least %d and -epochs, -infer-passes at least 1", trainBatch)
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
	fmt.Fprintf(stdout, "CNN on %d synthetic 3x32x32 images, train batch %d, SGD momentum 0.9; GOMAXPROCS=%d, sgemm: %s\n",
		*images, trainBatch, runtime.GOMAXPROCS(0), nn.BLAS())
	fmt.Fprintf(stdout, "load average at the start: %s\n", loadavg())

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
	if *skipTorch {
		fmt.Fprintln(stdout, "PyTorch baseline not run (-no-torch): no ratios")
	} else {
		t2, err := newTorchContender(ctx, dataFile, 2, tmp)
		if err != nil {
			fmt.Fprintf(stdout, "PyTorch baseline not run, no ratios: %v\n", err)
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
	for k := range tallies {
		tallies[k].infer, tallies[k].passes = map[int]cost{}, map[int]int{}
	}
	turn := 0
	for e := 0; e < *epochs; e++ {
		for i := range cs {
			k := (i + turn) % len(cs) // rotate the order
			d, err := cs[k].trainEpoch()
			if err != nil {
				return fmt.Errorf("%s: epoch: %w", cs[k].name(), err)
			}
			tallies[k].train.add(d)
			tallies[k].epochs++
		}
		turn++
	}
	fmt.Fprintf(stdout, "load average after training: %s\n", loadavg())
	for p := 0; p < *passes; p++ {
		for _, bs := range inferBatches {
			for i := range cs {
				k := (i + turn) % len(cs)
				d, err := cs[k].inferPass(bs)
				if err != nil {
					return fmt.Errorf("%s: inference at batch %d: %w", cs[k].name(), bs, err)
				}
				c := tallies[k].infer[bs]
				c.add(d)
				tallies[k].infer[bs] = c
				tallies[k].passes[bs]++
			}
			turn++
		}
	}
	for k, c := range cs {
		if tallies[k].acc, err = c.accuracy(); err != nil {
			return fmt.Errorf("%s: %w", c.name(), err)
		}
	}

	n := float64(*images)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "run\ts/epoch wall\ts/epoch CPU"
	for _, bs := range inferBatches {
		hdr += fmt.Sprintf("\tinfer img/s @%d\tCPU µs/img @%d", bs, bs)
	}
	fmt.Fprintln(tw, hdr+"\ttrain acc\t")
	for k, c := range cs {
		t := tallies[k]
		line := fmt.Sprintf("%s\t%.2f\t%.2f", c.name(), t.train.wall.Seconds()/float64(t.epochs), t.train.cpu.Seconds()/float64(t.epochs))
		for _, bs := range inferBatches {
			ic, np := t.infer[bs], float64(t.passes[bs])
			line += fmt.Sprintf("\t%.0f\t%.0f", n*np/ic.wall.Seconds(), ic.cpu.Seconds()*1e6/(n*np))
		}
		fmt.Fprintln(tw, line+fmt.Sprintf("\t%.3f\t", t.acc))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "each contender ran %d full epochs of %d images and %d inference passes over them at each batch size, in alternating turns; train acc: first 2,000 images after training\n",
		*epochs, *images, *passes)
	if torchAt >= 0 {
		tt := tallies[torchAt]
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		hdr := "ratio to PyTorch 2 threads\tepoch wall ÷ PyTorch\tepoch CPU ÷ PyTorch"
		for _, bs := range inferBatches {
			hdr += fmt.Sprintf("\tinfer speed @%d ÷ PyTorch", bs)
		}
		fmt.Fprintln(tw, hdr+"\t")
		for k, c := range cs {
			if k == torchAt {
				continue
			}
			t := tallies[k]
			line := fmt.Sprintf("%s\t%.2fx\t%.2fx", c.name(),
				(t.train.wall.Seconds()/float64(t.epochs))/(tt.train.wall.Seconds()/float64(tt.epochs)),
				(t.train.cpu.Seconds()/float64(t.epochs))/(tt.train.cpu.Seconds()/float64(tt.epochs)))
			for _, bs := range inferBatches {
				mine := float64(t.passes[bs]) / t.infer[bs].wall.Seconds()
				theirs := float64(tt.passes[bs]) / tt.infer[bs].wall.Seconds()
				line += fmt.Sprintf("\t%.2fx", mine/theirs)
			}
			fmt.Fprintln(tw, line+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadavg())
	fmt.Fprintln(stdout, "targets: epoch wall time ÷ PyTorch (2 threads) <= 1.0x; inference speed ÷ PyTorch >= 1.0x at batch 64 and 256 (higher is faster)")
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goContender trains one worker with `replicas` graphs and infers through a
// Predictor loaded from a checkpoint of the same model.
type goContender struct {
	ctx      context.Context
	replicas int
	raw, xn  []float32
	labels   []int32
	l        *nn.Learner
	rng      *rand.Rand
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
	g := &goContender{ctx: ctx, replicas: replicas, raw: set.Float32(), l: l, rng: rand.New(rand.NewPCG(1, 2)), tmp: tmp,
		norm: nn.Normalization{Scale: 1.0 / 255, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.25, 0.25, 0.25}}}
	g.xn = append([]float32(nil), g.raw...)
	g.norm.Apply(g.xn, spec.Input)
	g.labels = make([]int32, set.Len())
	for i, y := range set.Labels {
		g.labels[i] = int32(y)
	}
	g.bx, g.by = make([]float32, trainBatch*spec.InputSize()), make([]int32, trainBatch)
	// Warm-up: graphs built and buffers allocated for the full batch and
	// for the epoch's partial last batch.
	perm := g.rng.Perm(len(g.labels))
	if err := g.step(perm[:trainBatch]); err != nil {
		return nil, err
	}
	if rest := len(g.labels) % trainBatch; rest > 0 {
		if err := g.step(perm[:rest]); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *goContender) name() string {
	if g.replicas == 1 {
		return "goray nn, 1 graph/worker"
	}
	return fmt.Sprintf("goray nn, %d graphs/worker", g.replicas)
}

func (g *goContender) step(idx []int) error {
	in := CNN().InputSize()
	for i, p := range idx {
		copy(g.bx[i*in:(i+1)*in], g.xn[p*in:(p+1)*in])
		g.by[i] = g.labels[p]
	}
	_, err := g.l.Step(g.ctx, nn.Batch{X: g.bx[:len(idx)*in], Labels: g.by[:len(idx)]}, train.Solo())
	return err
}

func (g *goContender) trainEpoch() (cost, error) {
	n := len(g.labels)
	start, cpu := time.Now(), cpuTime()
	perm := g.rng.Perm(n)
	for lo := 0; lo < n; lo += trainBatch {
		if err := g.step(perm[lo:min(n, lo+trainBatch)]); err != nil {
			return cost{}, err
		}
	}
	d := cost{time.Since(start), cpuTime() - cpu}
	g.pred = nil // weights changed
	return d, nil
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
	// Warm-up: graphs built for every batch size a pass uses.
	in, n := spec.InputSize(), len(g.labels)
	for _, bs := range inferBatches {
		for _, k := range []int{bs, n % bs} {
			if k == 0 {
				continue
			}
			if _, err := g.pred.Scores(g.ctx, g.raw[:k*in], k); err != nil {
				return nil, err
			}
		}
	}
	return g.pred, nil
}

func (g *goContender) inferPass(bs int) (cost, error) {
	p, err := g.predictor()
	if err != nil {
		return cost{}, err
	}
	in := CNN().InputSize()
	n := len(g.labels)
	start, cpu := time.Now(), cpuTime()
	for lo := 0; lo < n; lo += bs {
		k := min(bs, n-lo)
		if _, err := p.Scores(g.ctx, g.raw[lo*in:(lo+k)*in], k); err != nil {
			return cost{}, err
		}
	}
	return cost{time.Since(start), cpuTime() - cpu}, nil
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

// torchScript serves commands on stdin: "epoch", "infer BS", "acc", one
// JSON line answered per command with wall and CPU seconds.
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
xn = (x / 255.0 - 0.5) / 0.25
n = x.shape[0]
model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4096, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
lossf = nn.CrossEntropyLoss()
def step(idx):
    opt.zero_grad()
    loss = lossf(model(xn[idx]), y[idx])
    loss.backward()
    opt.step()
def epoch():
    model.train()
    t, c = time.perf_counter(), time.process_time()
    perm = torch.randperm(n)
    for lo in range(0, n, bs):
        step(perm[lo:lo + bs])
    return time.perf_counter() - t, time.process_time() - c
def infer(b):
    model.eval()
    with torch.no_grad():
        t, c = time.perf_counter(), time.process_time()
        for lo in range(0, n, b):
            model(x[lo:lo + b])
        return time.perf_counter() - t, time.process_time() - c
def acc():
    model.eval()
    m = min(2000, n)
    with torch.no_grad():
        return float((model(xn[:m]).argmax(1) == y[:m]).float().mean())
perm = torch.randperm(n)
step(perm[:bs])
step(perm[:n % bs or bs])
for b in (64, 256):
    with torch.no_grad():
        model.eval()
        model(x[:b])
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "epoch":
        w, c = epoch()
        print(json.dumps({"s": w, "cpu": c}), flush=True)
    elif cmd[0] == "infer":
        w, c = infer(int(cmd[1]))
        print(json.dumps({"s": w, "cpu": c}), flush=True)
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
	return nil, fmt.Errorf("no python3 with torch found (tried %s); install it with: apt-get install -y python3-torch", strings.Join(tried, ", "))
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

func (t *torchContender) do(cmd string) (cost, error) {
	if _, err := fmt.Fprintln(t.in, cmd); err != nil {
		return cost{}, err
	}
	var r struct{ S, CPU float64 }
	if err := t.read(&r); err != nil {
		return cost{}, err
	}
	return cost{time.Duration(r.S * float64(time.Second)), time.Duration(r.CPU * float64(time.Second))}, nil
}

func (t *torchContender) name() string {
	if t.threads == 2 {
		return "PyTorch CPU, 2 threads (yardstick)"
	}
	return fmt.Sprintf("PyTorch CPU, %d thread(s)", t.threads)
}

func (t *torchContender) trainEpoch() (cost, error) { return t.do("epoch") }

func (t *torchContender) inferPass(bs int) (cost, error) { return t.do(fmt.Sprintf("infer %d", bs)) }

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
