package gbdt

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/goray/goray/train"
)

// metricInfo describes an eval_metric.
type metricInfo struct {
	maximize bool
	forObj   func(objective string) bool
}

func isMulti(objective string) bool { return objective == MultiSoftprob || objective == MultiSoftmax }

var metricTable = map[string]metricInfo{
	"logloss":  {false, func(o string) bool { return o == BinaryLogistic }},
	"error":    {false, func(o string) bool { return o == BinaryLogistic }},
	"auc":      {true, func(o string) bool { return o == BinaryLogistic }},
	"rmse":     {false, func(o string) bool { return !isMulti(o) }},
	"mae":      {false, func(o string) bool { return !isMulti(o) }},
	"mlogloss": {false, isMulti},
	"merror":   {false, isMulti},
}

func checkMetric(m, objective string) error {
	info, ok := metricTable[m]
	if !ok {
		return fmt.Errorf("%w: \"eval_metric\": unknown metric %q (known: auc, error, logloss, mae, merror, mlogloss, rmse)", ErrInvalidParam, m)
	}
	if !info.forObj(objective) {
		return fmt.Errorf("%w: \"eval_metric\": metric %q does not apply to objective %s", ErrInvalidParam, m, objective)
	}
	return nil
}

const probEps = 1e-16

// metricChunk is the rows whose metric terms one task sums. Partial sums
// are added in chunk order, so a metric does not depend on nthread.
const metricChunk = 16384

// evalRound computes every metric of every evaluation set after a round,
// over all workers' rows: the local sums of all sets and metrics are
// computed on nthread goroutines and all-reduced in one exchange; AUC is
// gathered exactly. probs[i], when not nil, holds sigmoid of sets[i]'s
// margins (binary:logistic), so that the exponential is not recomputed.
func evalRound(ctx context.Context, red train.Collective, c *config, sets []*evalSet, probs [][]float64) (map[string]float64, error) {
	type slot struct {
		key  string
		m    string
		hasN bool
	}
	var slots []slot
	var buf []float64
	out := make(map[string]float64, len(sets)*len(c.metrics))
	for i, es := range sets {
		var prob []float64
		if probs != nil {
			prob = probs[i]
		}
		for _, m := range c.metrics {
			key := es.name + "-" + m
			if m == "auc" {
				v, err := aucDistributed(ctx, red, es.m.labels, es.margin)
				if err != nil {
					return nil, err
				}
				out[key] = v
				continue
			}
			slots = append(slots, slot{key: key, m: m})
			buf = append(buf, metricSum(m, c.objective, c.numClass, es.m.labels, es.margin, prob, c.nthread), float64(len(es.m.labels)))
		}
	}
	if red != nil && len(buf) > 0 {
		if err := red.AllReduce(ctx, buf, train.Sum); err != nil {
			return nil, err
		}
	}
	for j, s := range slots {
		sum, n := buf[2*j], buf[2*j+1]
		if n == 0 {
			out[s.key] = math.NaN()
			continue
		}
		v := sum / n
		if s.m == "rmse" {
			v = math.Sqrt(v)
		}
		out[s.key] = v
	}
	return out, nil
}

// evalMetric computes metric m over all workers' rows. margin holds K raw
// scores per row.
func evalMetric(ctx context.Context, red train.Collective, m, objective string, K int, labels, margin []float64) (float64, error) {
	if m == "auc" {
		return aucDistributed(ctx, red, labels, margin)
	}
	sum, n := metricSum(m, objective, K, labels, margin, nil, 1), float64(len(labels))
	if red != nil {
		buf := []float64{sum, n}
		if err := red.AllReduce(ctx, buf, train.Sum); err != nil {
			return 0, err
		}
		sum, n = buf[0], buf[1]
	}
	if n == 0 {
		return math.NaN(), nil
	}
	v := sum / n
	if m == "rmse" {
		v = math.Sqrt(v)
	}
	return v, nil
}

// metricSum is the sum of metric m's per-row terms over this worker's rows,
// in chunks of metricChunk rows on nthread goroutines. prob, if not nil,
// is sigmoid(margin) (binary:logistic).
func metricSum(m, objective string, K int, labels, margin, prob []float64, nthread int) float64 {
	n := len(labels)
	nchunks := (n + metricChunk - 1) / metricChunk
	parts := make([]float64, nchunks)
	parallel(nthread, nchunks, func(c int) {
		lo, hi := c*metricChunk, min(n, (c+1)*metricChunk)
		parts[c] = metricTerms(m, objective, K, labels[lo:hi], margin[lo*K:hi*K], probSlice(prob, lo, hi))
	})
	var sum float64
	for _, v := range parts {
		sum += v
	}
	return sum
}

func probSlice(p []float64, lo, hi int) []float64 {
	if p == nil {
		return nil
	}
	return p[lo:hi]
}

// metricTerms sums metric m's terms over the rows of labels.
func metricTerms(m, objective string, K int, labels, margin, prob []float64) float64 {
	var sum float64
	switch m {
	case "logloss":
		// Labels are 0 or 1 (checkLabels): a row's term is -log of the
		// probability given to its label, which is >= probEps; the
		// product of logGroup of them stays a normal float64, so one log
		// serves logGroup rows.
		const logGroup = 16
		// Whole groups of 0/1 labels take the label's probability without
		// a branch: y*p + (1-y)*(1-p) is exactly p or 1-p. |y*(1-y)| sums
		// to 0 only when every y of the group is 0 or 1; any other group
		// and the rest go through the general loop below.
		done := 0
		for ; done+logGroup <= len(labels); done += logGroup {
			ys := labels[done : done+logGroup : done+logGroup]
			prod, notBinary := 1.0, 0.0
			if prob != nil {
				ps := prob[done : done+logGroup : done+logGroup]
				for k, y := range ys {
					p := min(max(ps[k], probEps), 1-probEps) // math.Min/Max semantics, inlined
					prod *= y*p + (1-y)*(1-p)
					notBinary += math.Abs(y * (1 - y))
				}
			} else {
				ms := margin[done : done+logGroup : done+logGroup]
				for k, y := range ys {
					p := min(max(sigmoid(ms[k]), probEps), 1-probEps)
					prod *= y*p + (1-y)*(1-p)
					notBinary += math.Abs(y * (1 - y))
				}
			}
			if notBinary != 0 {
				break
			}
			sum -= math.Log(prod)
		}
		prod, inGroup := 1.0, 0
		for i := done; i < len(labels); i++ {
			y := labels[i]
			var p float64
			if prob != nil {
				p = prob[i]
			} else {
				p = sigmoid(margin[i])
			}
			p = min(max(p, probEps), 1-probEps)
			switch y {
			case 1:
				prod *= p
			case 0:
				prod *= 1 - p
			default:
				sum -= y*math.Log(p) + (1-y)*math.Log(1-p)
				continue
			}
			if inGroup++; inGroup == logGroup {
				sum -= math.Log(prod)
				prod, inGroup = 1, 0
			}
		}
		sum -= math.Log(prod)
	case "error":
		for i, y := range labels {
			pred := 0.0
			if margin[i] > 0 { // p > 0.5
				pred = 1
			}
			if pred != y {
				sum++
			}
		}
	case "rmse", "mae":
		for i, y := range labels {
			p := margin[i]
			if objective == BinaryLogistic {
				if prob != nil {
					p = prob[i]
				} else {
					p = sigmoid(p)
				}
			}
			d := p - y
			if m == "rmse" {
				sum += d * d
			} else {
				sum += math.Abs(d)
			}
		}
	case "mlogloss", "merror":
		row := make([]float64, K)
		for i, y := range labels {
			copy(row, margin[i*K:i*K+K])
			softmax(row)
			if m == "mlogloss" {
				sum -= math.Log(math.Max(row[int(y)], probEps))
				continue
			}
			best := 0
			for j, p := range row {
				if p > row[best] {
					best = j
				}
			}
			if best != int(y) {
				sum++
			}
		}
	}
	return sum
}

// aucDistributed gathers every worker's scores and computes the exact AUC,
// so all workers get the same value.
func aucDistributed(ctx context.Context, red train.Collective, labels, margin []float64) (float64, error) {
	if red == nil || red.Size() == 1 {
		return auc(labels, margin[:len(labels)]), nil
	}
	b := make([]byte, 0, 9*len(labels))
	for i, y := range labels {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(margin[i]))
		b = append(b, byte(y))
	}
	all, err := red.AllGather(ctx, b)
	if err != nil {
		return 0, err
	}
	var ls, ms []float64
	for _, part := range all {
		for j := 0; j+9 <= len(part); j += 9 {
			ms = append(ms, math.Float64frombits(binary.LittleEndian.Uint64(part[j:])))
			ls = append(ls, float64(part[j+8]))
		}
	}
	return auc(ls, ms), nil
}

// auc is the area under the ROC curve of scores against 0/1 labels, ties
// counted as half; NaN when one class is absent.
func auc(labels, scores []float64) float64 {
	var pos, neg []uint64
	for i, y := range labels {
		k := orderedKey(scores[i])
		if y > 0.5 {
			pos = append(pos, k)
		} else {
			neg = append(neg, k)
		}
	}
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	radixSort(pos)
	radixSort(neg)
	// For each positive, count negatives strictly below and equal.
	var wins float64
	j := 0
	for i := 0; i < len(pos); {
		k := pos[i]
		i2 := i
		for i2 < len(pos) && pos[i2] == k {
			i2++
		}
		for j < len(neg) && neg[j] < k {
			j++
		}
		j2 := j
		for j2 < len(neg) && neg[j2] == k {
			j2++
		}
		wins += float64(i2-i) * (float64(j) + 0.5*float64(j2-j))
		i = i2
	}
	return wins / (float64(len(pos)) * float64(len(neg)))
}

// orderedKey maps a float64 to a uint64 with the same order (-0 == +0).
func orderedKey(v float64) uint64 {
	if v == 0 {
		v = 0
	}
	b := math.Float64bits(v)
	// Negative: flip every bit; positive: set the sign bit. Branch-free.
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

func keyValue(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// radixSort sorts keys ascending (LSD, 16-bit digits).
func radixSort(keys []uint64) {
	if len(keys) < 256 {
		insertionSort(keys)
		return
	}
	tmp := make([]uint64, len(keys))
	src, dst := keys, tmp
	var count [1 << 16]int
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		first := (src[0] >> shift) & 0xffff
		same := true
		for _, k := range src {
			d := (k >> shift) & 0xffff
			count[d]++
			same = same && d == first
		}
		if same {
			continue
		}
		pos := 0
		for d := range count {
			c := count[d]
			count[d] = pos
			pos += c
		}
		for _, k := range src {
			d := (k >> shift) & 0xffff
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

func insertionSort(a []uint64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
