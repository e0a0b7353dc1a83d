// Command nn-bench measures training and inference throughput of the CIFAR
// CNN (conv 3→32, pool, conv 32→64, pool, dense 4096→128→10) on synthetic
// 3×32×32 images, batch 64, SGD momentum 0.9, and prints them beside PyTorch
// on CPU with 2 threads, run on the same images in the same run when a
// python3 with torch is installed (Debian: apt-get install python3-torch).
//
//	go run ./bench/nn [-images 10000] [-budget 35s] [-single=false] [-no-torch]
//
// Each training row runs one shuffled epoch or stops at -budget and
// extrapolates, so the whole program stays under 3 minutes on a loaded
// 2-core machine.
package main

import (
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
	ctx := context.Background()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
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

type result struct {
	TrainSeconds float64 `json:"train_s"` // one epoch (extrapolated from Timed images)
	Timed        int     `json:"timed"`   // training images timed
	InferRate    float64 `json:"infer_rate"`
	Accuracy     float64 `json:"accuracy"`
	Images       int     `json:"images"`
}

func (r result) trainRate() float64 { return float64(r.Images) / r.TrainSeconds }
func (r result) inferRate() float64 { return r.InferRate }

const inferBudget = 10 * time.Second

const batch = 64

func run(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("nn-bench", flag.ContinueOnError)
	images := fs.Int("images", 10000, "synthetic training images")
	budget := fs.Duration("budget", 35*time.Second, "longest training time measured per row; a row that would take longer is timed on the images done by then and its epoch time extrapolated")
	skipTorch := fs.Bool("no-torch", false, "do not run the PyTorch baseline")
	single := fs.Bool("single", true, "also measure one graph per worker (shows the gain of one graph per core)")
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
	x := set.Float32()
	norm := nn.Normalization{Scale: 1.0 / 255, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.25, 0.25, 0.25}}
	xn := append([]float32(nil), x...)
	norm.Apply(xn, []int{3, 32, 32})
	labels := make([]int32, set.Len())
	for i, l := range set.Labels {
		labels[i] = int32(l)
	}

	fmt.Fprintf(stdout, "CNN on %d synthetic 3x32x32 images, batch %d, SGD momentum 0.9; GOMAXPROCS=%d, sgemm: %s\n",
		*images, batch, runtime.GOMAXPROCS(0), nn.BLAS())
	if *images < 10000 {
		fmt.Fprintf(stdout, "NOTE: %d images instead of the 10,000 of the spec (per-image rates are comparable)\n", *images)
	}
	rows := []struct {
		name string
		res  result
	}{}
	r, err := goRun(ctx, xn, x, labels, norm, 2, *budget, tmp)
	if err != nil {
		return err
	}
	rows = append(rows, struct {
		name string
		res  result
	}{"goray nn, 2 graphs/worker", r})
	if *single {
		r, err := goRun(ctx, xn, x, labels, norm, 1, *budget/2, tmp)
		if err != nil {
			return err
		}
		rows = append(rows, struct {
			name string
			res  result
		}{"goray nn, 1 graph/worker", r})
	}
	var torch *result
	if !*skipTorch {
		torch, err = torchRun(ctx, dataFile, *budget, tmp)
		if err != nil {
			fmt.Fprintf(stdout, "PyTorch baseline not run: %v\n", err)
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\timages timed\ts/epoch\ttrain img/s\tinfer img/s\ttrain acc\tepoch time ÷ PyTorch\tinfer speed ÷ PyTorch\t")
	for _, r := range rows {
		ratioT, ratioI := "n/a", "n/a"
		if torch != nil {
			ratioT = fmt.Sprintf("%.2fx", r.res.TrainSeconds/torch.TrainSeconds)
			ratioI = fmt.Sprintf("%.2fx", r.res.inferRate()/torch.inferRate())
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.0f\t%.3f\t%s\t%s\t\n", r.name, r.res.Timed, r.res.TrainSeconds, r.res.trainRate(), r.res.inferRate(), r.res.Accuracy, ratioT, ratioI)
	}
	if torch != nil {
		fmt.Fprintf(tw, "PyTorch CPU, 2 threads\t%d\t%.2f\t%.0f\t%.0f\t%.3f\t1.00x\t1.00x\t\n", torch.Timed, torch.TrainSeconds, torch.trainRate(), torch.inferRate(), torch.Accuracy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "s/epoch = %d images ÷ train img/s (a row timed on fewer images within -budget %v is extrapolated); inference over all images at batch %d, capped at %v; train acc = accuracy on the training images after the timed steps\n",
		*images, *budget, batch, inferBudget)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(stdout, "load average at the end: %s", load)
	}
	fmt.Fprintln(stdout, "targets: epoch time ÷ PyTorch <= 1.5x; inference speed ÷ PyTorch >= 1.0x (higher is faster)")
	return nil
}

// goRun trains one worker with the given graphs per worker for one shuffled
// epoch or until budget, then measures inference through a checkpointed
// Predictor at batch 64.
func goRun(ctx context.Context, xn, raw []float32, labels []int32, norm nn.Normalization, replicas int, budget time.Duration, tmp string) (result, error) {
	spec := CNN()
	n := len(labels)
	in := spec.InputSize()
	m, err := nn.NewModel(spec, 1)
	if err != nil {
		return result{}, err
	}
	l, err := nn.NewLearner(m, nn.LearnerConfig{Optimizer: nn.SGD(0.01, 0.9), Replicas: replicas})
	if err != nil {
		return result{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bx := make([]float32, batch*in)
	by := make([]int32, batch)
	// epoch trains on up to limit shuffled images, stopping after budget;
	// it returns the number of images trained on.
	epoch := func(limit int, budget time.Duration) (int, error) {
		perm := rng.Perm(n)
		start := time.Now()
		done := 0
		for lo := 0; lo < min(n, limit) && time.Since(start) < budget; lo += batch {
			hi := min(lo+batch, n)
			for i, p := range perm[lo:hi] {
				copy(bx[i*in:(i+1)*in], xn[p*in:(p+1)*in])
				by[i] = labels[p]
			}
			if _, err := l.Step(ctx, nn.Batch{X: bx[:(hi-lo)*in], Labels: by[:hi-lo]}, nn.LocalReducer{}); err != nil {
				return done, err
			}
			done += hi - lo
		}
		return done, nil
	}
	if _, err := epoch(3*batch, time.Hour); err != nil { // warm-up: graphs built, buffers allocated
		return result{}, err
	}
	start := time.Now()
	timed, err := epoch(n, budget)
	if err != nil {
		return result{}, err
	}
	res := result{Images: n, Timed: timed, TrainSeconds: time.Since(start).Seconds() * float64(n) / float64(timed)}

	dir := filepath.Join(tmp, fmt.Sprintf("ckpt-%d", replicas))
	if _, err := l.Save(dir, nn.SaveOptions{Normalization: &norm, Classes: cifar10.ClassNames}); err != nil {
		return res, err
	}
	ck, err := checkpoint.FromDirectory(dir)
	if err != nil {
		return res, err
	}
	p, err := nn.LoadPredictor(ck, &spec)
	if err != nil {
		return res, err
	}
	if _, err := p.Scores(ctx, raw[:batch*in], batch); err != nil { // warm-up
		return res, err
	}
	start = time.Now()
	correct, scored := 0, 0
	for lo := 0; lo < n && time.Since(start) < inferBudget; lo += batch {
		hi := min(lo+batch, n)
		s, err := p.Scores(ctx, raw[lo*in:hi*in], hi-lo)
		if err != nil {
			return res, err
		}
		for i := 0; i < hi-lo; i++ {
			row := s[i*10 : (i+1)*10]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if int32(best) == labels[lo+i] {
				correct++
			}
		}
		scored += hi - lo
	}
	res.InferRate = float64(scored) / time.Since(start).Seconds()
	res.Accuracy = float64(correct) / float64(scored)
	return res, nil
}

const torchScript = `
import json, sys, time
import numpy as np
import torch
import torch.nn as nn
torch.set_num_threads(2)
torch.manual_seed(0)
path, budget, bs = sys.argv[1], float(sys.argv[2]), 64
raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
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
def epoch(limit, budget):
    perm = torch.randperm(n)
    t = time.perf_counter()
    done = 0
    for i in range(0, min(n, limit), bs):
        if time.perf_counter() - t >= budget:
            break
        idx = perm[i:i + bs]
        opt.zero_grad()
        loss = lossf(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        done += len(idx)
    return done
model.train()
epoch(3 * bs, 1e9)
t = time.perf_counter()
timed = epoch(n, budget)
train_s = (time.perf_counter() - t) * n / timed
model.eval()
correct = scored = 0
with torch.no_grad():
    model(x[:bs])
    t = time.perf_counter()
    for i in range(0, n, bs):
        if time.perf_counter() - t >= 10:
            break
        out = model(x[i:i + bs])
        correct += int((out.argmax(1) == y[i:i + bs]).sum())
        scored += out.shape[0]
    infer_rate = scored / (time.perf_counter() - t)
print(json.dumps({"train_s": train_s, "timed": timed, "infer_rate": infer_rate, "accuracy": correct / scored, "images": n}))
`

// torchRun runs the PyTorch baseline on the same file with the first
// python3 that imports torch.
func torchRun(ctx context.Context, dataFile string, budget time.Duration, tmp string) (*result, error) {
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
		cmd := exec.CommandContext(ctx, py, script, dataFile, fmt.Sprint(budget.Seconds()))
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2", "MKL_NUM_THREADS=2")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", py, script, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var r result
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			return nil, fmt.Errorf("parsing PyTorch output %q: %w", out, err)
		}
		return &r, nil
	}
	return nil, fmt.Errorf("no python3 with torch found (tried %s; apt-get install python3-torch)", strings.Join(tried, ", "))
}
