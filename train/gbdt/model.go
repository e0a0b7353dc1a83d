package gbdt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/dmitryikh/leaves"
)

// Model formats a checkpoint can hold.
const (
	FormatLightGBM = "lightgbm" // LightGBM text model (what Booster.SaveLightGBM writes)
	FormatXGBoost  = "xgboost"  // XGBoost legacy binary model (Booster.save_model("x.model"))
)

// Model is a loaded tree ensemble used for prediction. Model files are read
// by github.com/dmitryikh/leaves, which scores models trained elsewhere;
// models this package wrote (Booster.Model, checkpoints from
// SaveCheckpoint) are scored by the same trees compiled into a flat layout,
// with bit-identical results. Safe for concurrent use.
type Model struct {
	ens       *leaves.Ensemble // output transformation included unless softmax
	raw       *leaves.Ensemble
	objective string
	numClass  int
	features  []string // from the model file; nil if it has none
	format    string
	softmax   bool // leaves gives raw scores; apply softmax here
	// flat, when not nil, is the same trees compiled for batch scoring
	// (models this package wrote); it predicts the same bits as ens.
	flat *forest
}

// LoadLightGBM reads a LightGBM text model (from LightGBM itself or from
// Booster.SaveLightGBM).
func LoadLightGBM(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	header := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, "=")
		header[k] = v
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), true)
	if err != nil {
		return nil, fmt.Errorf("%w: LightGBM model: %v", ErrInvalidInput, err)
	}
	m := &Model{ens: ens, raw: ens.EnsembleWithRawPredictions(), format: FormatLightGBM, numClass: ens.NRawOutputGroups()}
	obj := header["objective"]
	switch {
	case strings.HasPrefix(obj, "binary"):
		m.objective = BinaryLogistic
	case strings.HasPrefix(obj, "multiclass"):
		m.objective = MultiSoftprob
	case strings.HasPrefix(obj, "regression"):
		m.objective = RegSquaredError
	default:
		m.objective = "lightgbm:" + obj
	}
	if m.numClass == 1 && isMulti(m.objective) {
		return nil, fmt.Errorf("%w: LightGBM model: objective %q with one class", ErrInvalidInput, obj)
	}
	if names := strings.Fields(header["feature_names"]); len(names) > 0 {
		m.features = names
	}
	return m, nil
}

// LoadXGBoost reads an XGBoost model in the legacy binary format (what
// Booster.save_model writes for a file name not ending in .json/.ubj).
// binary:logistic gives probabilities, multi:* softmax probabilities,
// anything else raw scores.
func LoadXGBoost(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data, obj := fixXGBoostHeader(data)
	ens, err := leaves.XGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), obj == BinaryLogistic)
	if err != nil {
		return nil, fmt.Errorf("%w: XGBoost model: %v", ErrInvalidInput, err)
	}
	m := &Model{ens: ens, raw: ens.EnsembleWithRawPredictions(), format: FormatXGBoost, numClass: ens.NRawOutputGroups(), objective: obj}
	if strings.HasPrefix(obj, "multi:") {
		m.softmax = true
		m.objective = MultiSoftprob
	}
	if m.objective == "" {
		m.objective = RegSquaredError
	}
	return m, nil
}

// fixXGBoostHeader adapts a model saved by XGBoost >= 1.0 for leaves, which
// reads the pre-1.0 layout: it drops the "binf" magic and, for logistic
// objectives, turns base_score from a probability into the margin the
// older format stored. It also returns the objective name.
func fixXGBoostHeader(b []byte) ([]byte, string) {
	newer := bytes.HasPrefix(b, []byte("binf"))
	if newer {
		b = bytes.Clone(b[4:])
	}
	obj := xgboostObjective(b)
	if newer && obj != "" {
		// XGBoost >= 1.0 leaves GBTreeModelParam.num_output_group (at
		// offset 24) zero and keeps the class count in the learner header.
		off := 136 + 8 + len(obj)
		if len(b) >= off+8 {
			gbm := binary.LittleEndian.Uint64(b[off:])
			p := off + 8 + int(gbm) + 24
			if gbm < 64 && len(b) >= p+4 && binary.LittleEndian.Uint32(b[p:]) == 0 {
				k := max(int32(binary.LittleEndian.Uint32(b[8:])), 1)
				binary.LittleEndian.PutUint32(b[p:], uint32(k))
			}
		}
	}
	if newer && len(b) >= 4 {
		switch obj {
		case BinaryLogistic, "reg:logistic", "binary:logitraw":
			p := float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			if p > 0 && p < 1 {
				binary.LittleEndian.PutUint32(b, math.Float32bits(float32(math.Log(p/(1-p)))))
			}
		}
	}
	return b, obj
}

// xgboostObjective reads the objective name after the 136-byte
// LearnerModelParam of a legacy binary model ("" if unreadable).
func xgboostObjective(b []byte) string {
	const off = 136
	if len(b) < off+8 {
		return ""
	}
	n := binary.LittleEndian.Uint64(b[off:])
	if n > 64 || uint64(len(b)) < off+8+n {
		return ""
	}
	return string(b[off+8 : off+8+int(n)])
}

// Objective returns the model's objective (XGBoost names where known).
func (m *Model) Objective() string { return m.objective }

// NumClass returns the number of raw outputs per row (1 or num_class).
func (m *Model) NumClass() int { return m.numClass }

// NumFeatures returns the number of input columns the model reads.
func (m *Model) NumFeatures() int { return max(m.ens.NFeatures(), 1) }

// FeatureNames returns the names stored in the model file, if any.
func (m *Model) FeatureNames() []string { return append([]string(nil), m.features...) }

// Format returns FormatLightGBM or FormatXGBoost.
func (m *Model) Format() string { return m.format }

// PredictDense scores nrows rows of x (row-major, ncols values per row,
// NaN = missing) and returns NumClass() values per row: probabilities for
// classification (of class 1 for binary), the prediction for regression.
// raw returns margins instead.
func (m *Model) PredictDense(x []float64, nrows, ncols, nthread int, raw bool) ([]float64, error) {
	if ncols < m.NumFeatures() {
		return nil, fmt.Errorf("%w: %d columns given, model reads %d", ErrInvalidInput, ncols, m.NumFeatures())
	}
	if len(x) < nrows*ncols {
		return nil, fmt.Errorf("%w: %d values for %d rows x %d columns", ErrInvalidInput, len(x), nrows, ncols)
	}
	out := make([]float64, nrows*m.numClass)
	if nrows == 0 {
		return out, nil
	}
	if m.flat != nil {
		m.flat.predict(x, ncols, nil, 0, nrows, out, raw, nthread)
		return out, nil
	}
	ens := m.ens
	if raw || m.softmax {
		ens = m.raw
	}
	if err := ens.PredictDense(x, nrows, ncols, out, 0, nthread); err != nil {
		return nil, err
	}
	if m.softmax && !raw {
		transform(MultiSoftprob, m.numClass, out)
	}
	return out, nil
}

// Model returns the booster as a leaves-backed Model (built once).
func (b *Booster) Model() (*Model, error) {
	b.modelOnce.Do(func() {
		var buf bytes.Buffer
		if b.modelErr = b.SaveLightGBM(&buf); b.modelErr != nil {
			return
		}
		b.model, b.modelErr = LoadLightGBM(&buf)
		if b.model != nil {
			b.model.objective = b.cfg.objective
			b.model.features = b.Features()
			// The trees as the text stores them: leaves reads the same.
			b.model.flat, b.modelErr = compileForest(b.trees, b.cfg.numClass, len(b.features), b.baseMargin, b.cfg.objective)
		}
	})
	return b.model, b.modelErr
}

// Predict scores m's rows with the saved model (through leaves, as a
// Predictor would): NumClass() values per row, probabilities for
// classification (of class 1 for binary), the prediction for regression.
func (b *Booster) Predict(m *Matrix) ([]float64, error) { return b.predict(m, false) }

// PredictMargin is Predict before the link function (raw margins).
func (b *Booster) PredictMargin(m *Matrix) ([]float64, error) { return b.predict(m, true) }

func (b *Booster) predict(m *Matrix, raw bool) ([]float64, error) {
	model, err := b.Model()
	if err != nil {
		return nil, err
	}
	if len(m.features) != len(b.features) {
		return nil, fmt.Errorf("%w: matrix has %d features, model %d", ErrInvalidInput, len(m.features), len(b.features))
	}
	for j, f := range b.features {
		if m.features[j] != f {
			return nil, fmt.Errorf("%w: matrix feature %d is %q, model expects %q", ErrInvalidInput, j, m.features[j], f)
		}
	}
	F, K := len(b.features), b.cfg.numClass
	out := make([]float64, 0, m.nrows*K)
	const chunk = 65536
	x := make([]float64, min(chunk, m.nrows)*F)
	for lo := 0; lo < m.nrows; lo += chunk {
		hi := min(m.nrows, lo+chunk)
		for j, col := range m.cols {
			for i, v := range col[lo:hi] {
				x[i*F+j] = v
			}
		}
		p, err := model.PredictDense(x, hi-lo, F, b.cfg.nthread, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}
