package gbdt

import (
	"fmt"
	"math"
)

// baseMargin converts base_score to the raw margin every tree sum starts
// from (XGBoost 1.7: base_score is a probability for binary:logistic).
func baseMargin(c *config) float64 {
	if c.objective == BinaryLogistic {
		return math.Log(c.baseScore / (1 - c.baseScore))
	}
	return c.baseScore
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// checkLabels validates labels for the objective; the error names the
// dataset and the row.
func checkLabels(name string, m *Matrix, c *config) error {
	if m.labels == nil {
		return fmt.Errorf("%w: dataset %q has no label column", ErrInvalidInput, name)
	}
	for i, y := range m.labels {
		switch c.objective {
		case BinaryLogistic:
			if y != 0 && y != 1 {
				return fmt.Errorf("%w: dataset %q row %d: label %v is not 0 or 1 (objective %s)", ErrInvalidInput, name, m.rowBase+i, y, c.objective)
			}
		case MultiSoftprob, MultiSoftmax:
			if y < 0 || y >= float64(c.numClass) || y != math.Trunc(y) {
				return fmt.Errorf("%w: dataset %q row %d: label %v is not a class in [0, %d) (objective %s, num_class %d)",
					ErrInvalidInput, name, m.rowBase+i, y, c.numClass, c.objective, c.numClass)
			}
		default:
			if math.IsInf(y, 0) {
				return fmt.Errorf("%w: dataset %q row %d: label is %v", ErrInvalidInput, name, m.rowBase+i, y)
			}
		}
	}
	return nil
}

// gradients computes first and second derivatives of the loss for class k
// on rows [lo, hi), into g and h (indexed by row).
func gradients(c *config, labels, margin []float64, k, lo, hi int, g, h []float64) {
	K := c.numClass
	switch c.objective {
	case BinaryLogistic:
		for i := lo; i < hi; i++ {
			p := sigmoid(margin[i])
			g[i] = p - labels[i]
			h[i] = max(p*(1-p), 1e-16)
		}
	case RegSquaredError:
		for i := lo; i < hi; i++ {
			g[i] = margin[i] - labels[i]
			h[i] = 1
		}
	default: // softmax, XGBoost's hessian 2p(1-p)
		for i := lo; i < hi; i++ {
			row := margin[i*K : i*K+K]
			mx := row[0]
			for _, v := range row[1:] {
				mx = math.Max(mx, v)
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(v - mx)
			}
			p := math.Exp(row[k]-mx) / sum
			y := 0.0
			if int(labels[i]) == k {
				y = 1
			}
			g[i] = p - y
			h[i] = max(2*p*(1-p), 1e-16)
		}
	}
}

// gradientsQuantized is gradients followed by quantization for objectives
// whose gradients have a known bound (see gradBound): one pass, no float
// arrays. Only binary:logistic takes this path.
func gradientsQuantized(labels, margin []float64, rows []int32, gh []ghPair, scale float64) {
	for _, r := range rows {
		p := 1 / (1 + math.Exp(-margin[r]))
		h := p * (1 - p)
		if h < 1e-16 {
			h = 1e-16
		}
		gh[r] = ghPair{int32((p - labels[r]) * scale), int32(h * scale)}
	}
}

// gradientsQuantizedProb is gradientsQuantized given p = sigmoid(margin)
// already computed (the same expression, so the same bits).
func gradientsQuantizedProb(labels, prob []float64, rows []int32, gh []ghPair, scale float64) {
	for _, r := range rows {
		p := prob[r]
		h := p * (1 - p)
		if h < 1e-16 {
			h = 1e-16
		}
		gh[r] = ghPair{int32((p - labels[r]) * scale), int32(h * scale)}
	}
}

// transform turns raw margins (K per row) into predictions in place:
// probabilities for binary:logistic and multi:*, identity for regression.
func transform(objective string, K int, raw []float64) {
	switch objective {
	case BinaryLogistic:
		for i, v := range raw {
			raw[i] = sigmoid(v)
		}
	case MultiSoftprob, MultiSoftmax:
		for i := 0; i+K <= len(raw); i += K {
			softmax(raw[i : i+K])
		}
	}
}

func softmax(row []float64) {
	mx := row[0]
	for _, v := range row[1:] {
		mx = math.Max(mx, v)
	}
	var sum float64
	for j, v := range row {
		e := math.Exp(v - mx)
		row[j] = e
		sum += e
	}
	for j := range row {
		row[j] /= sum
	}
}
