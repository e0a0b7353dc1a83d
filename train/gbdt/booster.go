package gbdt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"github.com/goray/goray/train"
)

// Callback receives each round's metrics, named "<dataset>-<metric>" (e.g.
// "train-logloss", "valid-auc"). Returning ErrStopTraining ends training
// without an error; any other error aborts Train with it.
type Callback func(round int, metrics map[string]float64) error

// Option configures Train.
type Option func(*trainOptions)

type trainOptions struct {
	coll     train.Collective
	callback Callback
	snapshot func(round int, b *Booster) error
	esSet    string
	init     *Booster
}

// WithCollective makes Train one worker of a data-parallel group: every
// worker passes its own row shard of the training (and evaluation) data and
// its member of the group (a train.Context's Collective, or one of
// train.NewLocalGroup); all of them return the same Booster, identical to
// what one worker holding all rows would build (when subsample is 1).
// Histograms travel as exact fixed-point int64 sums (AllReduceInt64), so the
// trees do not depend on how rows are sharded; metrics as float64 sums; the
// quantile summaries behind the bin boundaries through AllGather, merged
// identically on every worker.
func WithCollective(c train.Collective) Option { return func(o *trainOptions) { o.coll = c } }

// WithCallback reports each round's metrics to cb (on every worker).
func WithCallback(cb Callback) Option { return func(o *trainOptions) { o.callback = cb } }

// WithSnapshot calls fn after each round (after the Callback) with the
// booster as trained so far, e.g. to write a checkpoint every few rounds.
// Snapshots share their trees with the final booster and are cheap.
// Returning ErrStopTraining ends training without an error.
func WithSnapshot(fn func(round int, b *Booster) error) Option {
	return func(o *trainOptions) { o.snapshot = fn }
}

// WithInitModel continues boosting from init (e.g. LoadBooster of the last
// checkpoint after a restart): its trees are kept and new rounds are added
// on top of its predictions. The objective, num_class and features must
// match. Round numbers passed to callbacks continue from init's.
func WithInitModel(init *Booster) Option { return func(o *trainOptions) { o.init = init } }

// WithEarlyStoppingSet names the evaluation set early_stopping_rounds
// watches. Without it, the only evaluation set not named "train" is used.
func WithEarlyStoppingSet(name string) Option { return func(o *trainOptions) { o.esSet = name } }

// Booster is a trained gradient-boosted tree ensemble.
type Booster struct {
	cfg        *config
	params     Params
	features   []string
	cuts       []featureCuts
	infos      []string // LightGBM feature_infos, one per feature
	trees      []*tree  // round-major: trees[round*numClass+class]
	baseMargin float64
	history    []map[string]float64
	bestIter   int
	bestScore  float64

	modelOnce sync.Once
	model     *Model
	modelErr  error
}

type evalSet struct {
	name   string
	m      *Matrix
	bins   []uint8 // nil when m is the training matrix
	margin []float64
}

// Train fits a booster for rounds boosting rounds. evals are scored after
// every round (metric names "<name>-<metric>"); pass the training matrix
// itself under "train" to score it. ctx cancels training between levels.
func Train(ctx context.Context, dtrain *Matrix, evals map[string]*Matrix, params Params, rounds int, opts ...Option) (*Booster, error) {
	cfg, err := parseParams(params)
	if err != nil {
		return nil, err
	}
	var o trainOptions
	for _, opt := range opts {
		opt(&o)
	}
	if rounds < 1 {
		return nil, fmt.Errorf("%w: number of boosting rounds %d must be >= 1", ErrInvalidParam, rounds)
	}
	if dtrain == nil {
		return nil, fmt.Errorf("%w: no training matrix", ErrInvalidInput)
	}
	if err := checkLabels("train", dtrain, cfg); err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(evals))
	for _, name := range names {
		m := evals[name]
		if m == nil {
			return nil, fmt.Errorf("%w: evaluation set %q is nil", ErrInvalidInput, name)
		}
		if !slices.Equal(m.features, dtrain.features) {
			return nil, fmt.Errorf("%w: evaluation set %q has features %v, training data has %v", ErrInvalidInput, name, m.features, dtrain.features)
		}
		if err := checkLabels(name, m, cfg); err != nil {
			return nil, err
		}
	}
	esSet := ""
	if cfg.earlyStoppingRounds > 0 {
		esSet = o.esSet
		if esSet == "" {
			var cands []string
			for _, n := range names {
				if n != "train" {
					cands = append(cands, n)
				}
			}
			if len(cands) != 1 {
				return nil, fmt.Errorf("%w: \"early_stopping_rounds\" needs exactly one evaluation set besides \"train\" (got %v) or WithEarlyStoppingSet", ErrInvalidParam, cands)
			}
			esSet = cands[0]
		}
		if _, ok := evals[esSet]; !ok {
			return nil, fmt.Errorf("%w: early-stopping set %q is not among the evaluation sets %v", ErrInvalidParam, esSet, names)
		}
	}
	red := o.coll
	if red != nil && red.Size() == 1 {
		red = nil
	}

	n := dtrain.nrows
	nGlobal := int64(n)
	if red != nil {
		buf := []int64{nGlobal}
		if err := red.AllReduceInt64(ctx, buf, train.Sum); err != nil {
			return nil, err
		}
		nGlobal = buf[0]
	}
	if nGlobal == 0 {
		return nil, fmt.Errorf("%w: training matrix has no rows", ErrInvalidInput)
	}
	cuts, err := computeCuts(ctx, dtrain, cfg.maxBin, cfg.nthread, red)
	if err != nil {
		return nil, err
	}
	F := len(cuts)
	K := cfg.numClass
	b := &Booster{cfg: cfg, params: maps.Clone(params), features: slices.Clone(dtrain.features), cuts: cuts, infos: featureInfos(cuts), baseMargin: baseMargin(cfg), bestIter: -1}
	// initMargins returns the starting margins of m's rows.
	initMargins := func(m *Matrix) ([]float64, error) {
		if o.init != nil {
			return o.init.PredictMargin(m)
		}
		out := make([]float64, m.nrows*K)
		for i := range out {
			out[i] = b.baseMargin
		}
		return out, nil
	}
	first := 0 // number of the first new round
	if init := o.init; init != nil {
		switch {
		case init.cfg.objective != cfg.objective || init.cfg.numClass != K:
			return nil, fmt.Errorf("%w: init model is %s with %d classes, params say %s with %d", ErrInvalidParam, init.cfg.objective, init.cfg.numClass, cfg.objective, K)
		case !slices.Equal(init.features, b.features):
			return nil, fmt.Errorf("%w: init model features %v differ from the training data's %v", ErrInvalidInput, init.features, b.features)
		}
		b.baseMargin = init.baseMargin
		b.trees = slices.Clone(init.trees)
		b.history = init.EvalHistory()
		first = init.NumRounds()
	}

	bins := binMatrix(dtrain, cuts, cfg.nthread)
	margin, err := initMargins(dtrain)
	if err != nil {
		return nil, err
	}
	sets := make([]*evalSet, len(names))
	for i, name := range names {
		m := evals[name]
		es := &evalSet{name: name, m: m}
		if m == dtrain {
			es.margin = margin
		} else {
			es.bins = binMatrix(m, cuts, cfg.nthread)
			if es.margin, err = initMargins(m); err != nil {
				return nil, err
			}
		}
		sets[i] = es
	}

	gr := &grower{
		c: cfg, F: F, cuts: cuts, bins: bins, nthread: cfg.nthread, red: red,
		binsT: transposeBins(bins, n, F, cfg.nthread), n: n,
		rows: make([]int32, n), scratch: make([]int32, n), gh: make([]ghPair, n),
		featMask: make([]bool, F),
	}
	var gAll, hAll []float64
	if cfg.objective != BinaryLogistic {
		gAll, hAll = make([]float64, n*K), make([]float64, n*K)
	}
	featRng := rand.New(rand.NewPCG(cfg.seed, 0x9e3779b97f4a7c15))
	rank := 0
	if red != nil {
		rank = red.Rank()
	}
	rowRng := rand.New(rand.NewPCG(cfg.seed, uint64(rank)+1))
	// Replay the random draws of the rounds init made, so resuming gives
	// the trees an uninterrupted run would have.
	for range first * K {
		if cfg.subsample < 1 {
			for range n {
				rowRng.Float64()
			}
		}
		b.sampleFeatures(featRng, gr.featMask)
	}
	esMetric := cfg.metrics[len(cfg.metrics)-1]
	best, sinceBest := math.NaN(), 0
	const chunk = 16384
	nchunks := (n + chunk - 1) / chunk

	// With binary:logistic and the training set among the evaluation
	// sets, sigmoid(margin) is computed once per round for both the
	// metrics and the next round's gradients.
	var prob []float64
	var probs [][]float64
	probValid := false
	if cfg.objective == BinaryLogistic && K == 1 {
		for i, es := range sets {
			if es.bins == nil {
				if prob == nil {
					prob = make([]float64, n)
					probs = make([][]float64, len(sets))
				}
				probs[i] = prob
			}
		}
	}
	for round := first; round < first+rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fused := cfg.objective == BinaryLogistic
		if !fused {
			parallel(cfg.nthread, nchunks, func(c int) {
				lo, hi := c*chunk, min(n, (c+1)*chunk)
				for k := range K {
					gradients(cfg, dtrain.labels, margin, k, lo, hi, gAll[k*n:(k+1)*n], hAll[k*n:(k+1)*n])
				}
			})
		}
		for k := range K {
			nrows := 0
			if cfg.subsample < 1 {
				for i := range n {
					if rowRng.Float64() < cfg.subsample {
						gr.rows[nrows] = int32(i)
						nrows++
					}
				}
			} else {
				for i := range n {
					gr.rows[i] = int32(i)
				}
				nrows = n
			}
			b.sampleFeatures(featRng, gr.featMask)
			if fused {
				scale := gr.setScale(gradBound(cfg), nGlobal)
				rows := gr.rows[:nrows]
				parallel(cfg.nthread, (nrows+chunk-1)/chunk, func(c int) {
					rs := rows[c*chunk : min(nrows, (c+1)*chunk)]
					if probValid {
						gradientsQuantizedProb(dtrain.labels, prob, rs, gr.gh, scale)
					} else {
						gradientsQuantized(dtrain.labels, margin, rs, gr.gh, scale)
					}
				})
			} else if err := gr.quantize(ctx, gAll[k*n:(k+1)*n], hAll[k*n:(k+1)*n], gr.rows[:nrows], nGlobal, gradBound(cfg)); err != nil {
				return nil, err
			}
			t, err := gr.grow(ctx, nrows)
			if err != nil {
				return nil, err
			}
			b.trees = append(b.trees, t)
			// Training margins: by leaf segment when every row is in the tree.
			if cfg.subsample < 1 {
				addTree(t, bins, F, margin, K, k, cfg.nthread)
			} else {
				parallel(cfg.nthread, len(gr.nodes), func(i int) {
					nd := &gr.nodes[i]
					if nd.left >= 0 {
						return
					}
					v := t.nodes[i].value
					for _, r := range gr.rows[nd.begin:nd.end] {
						margin[int(r)*K+k] += v
					}
				})
			}
			for _, es := range sets {
				if es.bins != nil {
					addTree(t, es.bins, F, es.margin, K, k, cfg.nthread)
				}
			}
		}
		if probs != nil {
			// sigmoid of the new training margins: the training set's
			// metrics read it, and so do the next round's gradients.
			parallel(cfg.nthread, nchunks, func(c int) {
				for i := c * chunk; i < min(n, (c+1)*chunk); i++ {
					prob[i] = sigmoid(margin[i])
				}
			})
			probValid = true
		}
		metrics, err := evalRound(ctx, red, cfg, sets, probs)
		if err != nil {
			return nil, err
		}
		b.history = append(b.history, metrics)
		stop := false
		if esSet != "" {
			v := metrics[esSet+"-"+esMetric]
			better := math.IsNaN(best) || (metricTable[esMetric].maximize && v > best) || (!metricTable[esMetric].maximize && v < best)
			if better {
				best, b.bestIter, sinceBest = v, round, 0
			} else if sinceBest++; sinceBest >= cfg.earlyStoppingRounds {
				stop = true
			}
		}
		if o.callback != nil {
			if err := o.callback(round, maps.Clone(metrics)); errors.Is(err, ErrStopTraining) {
				stop = true
			} else if err != nil {
				return nil, err
			}
		}
		if o.snapshot != nil {
			snap := &Booster{cfg: cfg, params: b.params, features: b.features, cuts: cuts, infos: b.infos,
				trees: slices.Clip(b.trees), baseMargin: b.baseMargin, history: b.history, bestIter: -1}
			if err := o.snapshot(round, snap); errors.Is(err, ErrStopTraining) {
				stop = true
			} else if err != nil {
				return nil, err
			}
		}
		if stop {
			break
		}
	}
	if b.bestIter >= 0 {
		b.bestScore = best
		b.trees = b.trees[:(b.bestIter+1)*K]
	}
	return b, nil
}

// featureInfos renders LightGBM's feature_infos ("[min:max]" or "none").
func featureInfos(cuts []featureCuts) []string {
	out := make([]string, len(cuts))
	for j, fc := range cuts {
		if math.IsNaN(fc.min) {
			out[j] = "none"
		} else {
			out[j] = "[" + fmtFloat(fc.min) + ":" + fmtFloat(fc.max) + "]"
		}
	}
	return out
}

// gradBound is a bound on |g| and h known from the objective, or 0.
func gradBound(c *config) float64 {
	switch c.objective {
	case BinaryLogistic, MultiSoftprob, MultiSoftmax:
		return 1 // |p - y| <= 1, p(1-p) <= 1/4, 2p(1-p) <= 1/2
	}
	return 0
}

// transposeBins returns the column-major copy of row-major bins.
func transposeBins(bins []uint8, n, F, nthread int) []uint8 {
	out := make([]uint8, n*F)
	const chunk = 4096
	parallel(nthread, (n+chunk-1)/chunk, func(c int) {
		lo, hi := c*chunk, min(n, (c+1)*chunk)
		for j := range F {
			col := out[j*n+lo : j*n+hi]
			for i := range col {
				col[i] = bins[(lo+i)*F+j]
			}
		}
	})
	return out
}

// sampleFeatures draws the features of one tree (colsample_bytree). The
// draw uses only the shared seed, so every worker draws the same.
func (b *Booster) sampleFeatures(rng *rand.Rand, mask []bool) {
	F := len(mask)
	if b.cfg.colsample >= 1 {
		for i := range mask {
			mask[i] = true
		}
		return
	}
	k := max(1, int(b.cfg.colsample*float64(F)))
	clear(mask)
	for _, j := range rng.Perm(F)[:k] {
		mask[j] = true
	}
}

// addTree adds t's output to margin column k for binned rows.
func addTree(t *tree, bins []uint8, F int, margin []float64, K, k, nthread int) {
	n := len(bins) / max(F, 1)
	const chunk = 8192
	parallel(nthread, (n+chunk-1)/chunk, func(c int) {
		for i := c * chunk; i < min(n, (c+1)*chunk); i++ {
			margin[i*K+k] += t.nodes[t.leafBinned(bins[i*F:(i+1)*F])].value
		}
	})
}

// NumRounds returns the number of boosting rounds kept (all of them, or up
// to the best round when early stopping triggered).
func (b *Booster) NumRounds() int { return len(b.trees) / b.cfg.numClass }

// BestIteration returns the best round (0-based) and its score when early
// stopping was on, else -1 and NaN. The booster keeps the trees up to it.
func (b *Booster) BestIteration() (int, float64) {
	if b.bestIter < 0 {
		return -1, math.NaN()
	}
	return b.bestIter, b.bestScore
}

// EvalHistory returns every round's metrics.
func (b *Booster) EvalHistory() []map[string]float64 {
	out := make([]map[string]float64, len(b.history))
	for i, m := range b.history {
		out[i] = maps.Clone(m)
	}
	return out
}

// Features returns the feature names, in model column order.
func (b *Booster) Features() []string { return slices.Clone(b.features) }

// Objective returns the XGBoost objective name.
func (b *Booster) Objective() string { return b.cfg.objective }

// NumClass returns the number of classes (1 for binary and regression).
func (b *Booster) NumClass() int { return b.cfg.numClass }

// Params returns the parameters the booster was trained with.
func (b *Booster) Params() Params { return maps.Clone(b.params) }

// FeatureImportance returns per-feature importance like XGBoost's
// get_score: "weight" (number of splits), "gain" (average loss reduction
// per split), "total_gain", "cover" (average hessian per split) or
// "total_cover". Features never split on are absent.
func (b *Booster) FeatureImportance(kind string) (map[string]float64, error) {
	count := map[string]float64{}
	gain := map[string]float64{}
	cover := map[string]float64{}
	for _, t := range b.trees {
		for _, nd := range t.nodes {
			if nd.left < 0 {
				continue
			}
			f := b.features[nd.feature]
			count[f]++
			gain[f] += nd.gain
			cover[f] += nd.hess
		}
	}
	switch kind {
	case "weight", "split":
		return count, nil
	case "total_gain":
		return gain, nil
	case "total_cover":
		return cover, nil
	case "gain", "cover":
		src := gain
		if kind == "cover" {
			src = cover
		}
		out := map[string]float64{}
		for f, c := range count {
			out[f] = src[f] / c
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: importance type %q (want weight, gain, total_gain, cover or total_cover)", ErrInvalidParam, kind)
}

// sortedFeatureCounts lists (feature, split count) by decreasing count, as
// LightGBM's feature_importances section does.
func (b *Booster) sortedFeatureCounts() []struct {
	name  string
	count int
} {
	counts := make([]int, len(b.features))
	for _, t := range b.trees {
		for _, nd := range t.nodes {
			if nd.left >= 0 {
				counts[nd.feature]++
			}
		}
	}
	var out []struct {
		name  string
		count int
	}
	for j, c := range counts {
		if c > 0 {
			out = append(out, struct {
				name  string
				count int
			}{b.features[j], c})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].count > out[j].count })
	return out
}
