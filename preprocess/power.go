package preprocess

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
)

// Methods for PowerTransformer.
const (
	YeoJohnson = "yeo-johnson"
	BoxCox     = "box-cox"
)

// PowerTransformer applies a power transform per column to make it more
// Gaussian-like: Yeo-Johnson (the default; any real values) or Box-Cox
// (strictly positive values only). Each column's lambda is the maximum
// likelihood estimate found exactly as scikit-learn finds it (Brent's
// method bracketed from (-2, 2), as scipy.optimize.brent). With
// Standardize (the default from NewPowerTransformer) the transformed column
// is then standardised to zero mean and unit variance.
//
// The likelihood needs every value of a column, so fitting gathers each
// column's non-NaN values from all blocks to the caller. A constant column
// gets lambda 1 under Yeo-Johnson (scikit-learn >= 1.4) and is an error
// under Box-Cox (as in scipy). Ray's PowerTransformer takes a fixed power
// and does not standardise; this one fits lambdas like scikit-learn.
// Columns are replaced in place by float64 columns.
type PowerTransformer struct {
	Columns []string `json:"columns"`
	// Method is YeoJohnson or BoxCox; empty means YeoJohnson.
	Method string `json:"method"`
	// Standardize scales the transformed values to zero mean, unit variance.
	Standardize bool `json:"standardize"`
	// Stats holds each column's fitted lambda (and the standardising mean
	// and scale); nil until Fit.
	Stats map[string]PowerStats `json:"stats,omitempty"`
}

// PowerStats is a PowerTransformer's fitted state for one column. Mean and
// Scale are used only with Standardize.
type PowerStats struct {
	Lambda float64 `json:"lambda"`
	Mean   float64 `json:"mean"`
	Scale  float64 `json:"scale"`
}

// NewPowerTransformer returns a standardising PowerTransformer using method
// (YeoJohnson, BoxCox, or "" for YeoJohnson).
func NewPowerTransformer(method string, columns ...string) *PowerTransformer {
	return &PowerTransformer{Columns: columns, Method: method, Standardize: true}
}

// TypeName is "PowerTransformer".
func (p *PowerTransformer) TypeName() string { return "PowerTransformer" }

// Fitted reports whether Stats is set.
func (p *PowerTransformer) Fitted() bool { return p.Stats != nil }

func (p *PowerTransformer) method() (string, error) {
	switch p.Method {
	case "":
		return YeoJohnson, nil
	case YeoJohnson, BoxCox:
		return p.Method, nil
	}
	return "", fmt.Errorf("%w: %s: Method %q must be %q or %q", ErrInvalidInput, p.TypeName(), p.Method, YeoJohnson, BoxCox)
}

func (p *PowerTransformer) validate() error {
	if _, err := p.method(); err != nil {
		return err
	}
	if p.Stats == nil {
		return checkConfig(p.TypeName(), p.Columns)
	}
	_, err := statsFor(p.TypeName(), p.Columns, p.Stats)
	return err
}

// Values is a mergeable collection of a column's non-NaN values, for
// statistics that need them all.
type Values struct {
	Runs [][]float64
}

// ValuesOf copies the non-NaN values of vals.
func ValuesOf(vals []float64) Values {
	run := make([]float64, 0, len(vals))
	for _, v := range vals {
		if v == v {
			run = append(run, v)
		}
	}
	return Values{Runs: [][]float64{run}}
}

// Merge appends o's values.
func (v Values) Merge(o Values) Values {
	return Values{Runs: append(v.Runs[:len(v.Runs):len(v.Runs)], o.Runs...)}
}

func (v Values) flat() []float64 {
	n := 0
	for _, r := range v.Runs {
		n += len(r)
	}
	out := make([]float64, 0, n)
	for _, r := range v.Runs {
		out = append(out, r...)
	}
	return out
}

func (p *PowerTransformer) plan() (*fitPlan, error) {
	if err := checkConfig(p.TypeName(), p.Columns); err != nil {
		return nil, err
	}
	method, err := p.method()
	if err != nil {
		return nil, err
	}
	typ := p.TypeName()
	of := ValuesOf
	pl := perColumn(typ, p.Columns, of, Values.Merge, func(vs []Values) error {
		stats := make(map[string]PowerStats, len(vs))
		for i, v := range vs {
			c := p.Columns[i]
			x := v.flat()
			if len(x) == 0 {
				return noValues(typ, c)
			}
			m := MomentsOf(x)
			if math.IsInf(m.Mean, 0) || math.IsNaN(m.Mean) {
				return notFinite(typ, c)
			}
			var lambda float64
			switch {
			case method == BoxCox && isConstant(m):
				return fmt.Errorf("%w: %s: column %q is constant; Box-Cox needs varying data", ErrInvalidInput, typ, c)
			case method == BoxCox:
				scratch := make([]float64, len(x))
				lambda = brent(func(l float64) float64 { return -boxCoxLLF(l, x, scratch) }, -2, 2)
			case isConstant(m):
				lambda = 1
			default:
				scratch := make([]float64, len(x))
				logs := signedLog1p(x)
				lambda = brent(func(l float64) float64 { return yeoJohnsonNLL(l, x, logs, scratch) }, -2, 2)
			}
			st := PowerStats{Lambda: lambda, Mean: 0, Scale: 1}
			if p.Standardize {
				t := make([]float64, len(x))
				powerTransform(method, lambda, x, t)
				tm := MomentsOf(t)
				st.Mean = tm.Mean
				st.Scale = math.Sqrt(tm.Var())
				if isConstant(tm) {
					st.Scale = 1
				}
			}
			stats[c] = st
		}
		p.Stats = stats
		return nil
	})
	if method == BoxCox {
		// Reject non-positive values in the block that holds them.
		block := pl.block
		pl.block = func(rec arrow.Record) (any, error) {
			for _, c := range p.Columns {
				vals, _, err := numericColumn(rec, typ, c)
				if err != nil {
					return nil, err
				}
				if err := checkPositive(typ, c, vals); err != nil {
					return nil, err
				}
			}
			return block(rec)
		}
	}
	return pl, nil
}

func checkPositive(typ, col string, vals []float64) error {
	for i, v := range vals {
		if v <= 0 {
			return fmt.Errorf("%w: %s: Box-Cox needs strictly positive values, column %q has %v (row %d of the batch)", ErrInvalidInput, typ, col, v, i)
		}
	}
	return nil
}

// TransformBatch transforms one batch. It does not release batch; the
// caller releases the result. Box-Cox rejects non-positive values.
func (p *PowerTransformer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !p.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, p.TypeName())
	}
	method, err := p.method()
	if err != nil {
		return nil, err
	}
	st, err := statsFor(p.TypeName(), p.Columns, p.Stats)
	if err != nil {
		return nil, err
	}
	if method == BoxCox {
		for _, c := range p.Columns {
			vals, _, err := numericColumn(batch, p.TypeName(), c)
			if err != nil {
				return nil, err
			}
			if err := checkPositive(p.TypeName(), c, vals); err != nil {
				return nil, err
			}
		}
	}
	return mapNumeric(batch, p.TypeName(), p.Columns, func(k int, in, out []float64) {
		powerTransform(method, st[k].Lambda, in, out)
		if p.Standardize {
			mean, scale := st[k].Mean, st[k].Scale
			for i, v := range out {
				out[i] = (v - mean) / scale
			}
		}
	})
}

func powerTransform(method string, lambda float64, in, out []float64) {
	if method == BoxCox {
		for i, x := range in {
			out[i] = boxCox(x, lambda)
		}
		return
	}
	yeoJohnson(in, out, lambda)
}

// boxCox is scipy.special.boxcox.
func boxCox(x, lambda float64) float64 {
	if math.Abs(lambda) < 1e-19 {
		return math.Log(x)
	}
	return math.Expm1(lambda*math.Log(x)) / lambda
}

// spacing1 is numpy's np.spacing(1.0).
const spacing1 = 0x1p-52

// yeoJohnson is scikit-learn's _yeo_johnson_transform.
func yeoJohnson(in, out []float64, lambda float64) {
	for i, x := range in {
		switch {
		case x >= 0 && math.Abs(lambda) < spacing1:
			out[i] = math.Log1p(x)
		case x >= 0:
			out[i] = (math.Pow(x+1, lambda) - 1) / lambda
		case math.Abs(lambda-2) > spacing1:
			out[i] = -(math.Pow(-x+1, 2-lambda) - 1) / (2 - lambda)
		default:
			out[i] = -math.Log1p(-x)
		}
	}
}

// yeoJohnsonNLL is scikit-learn's negative log-likelihood for lambda;
// logs is signedLog1p(x) and t scratch space of len(x).
func yeoJohnsonNLL(lambda float64, x []float64, logs float64, t []float64) float64 {
	yeoJohnson(x, t, lambda)
	v := MomentsOf(t).Var()
	if v < 0x1p-1022 || v != v {
		return math.Inf(1)
	}
	n := float64(len(x))
	return -(-n/2*math.Log(v) + (lambda-1)*logs)
}

// signedLog1p is sum(sign(x) * log1p(|x|)).
func signedLog1p(x []float64) float64 {
	var s float64
	for _, xi := range x {
		switch {
		case xi > 0:
			s += math.Log1p(xi)
		case xi < 0:
			s -= math.Log1p(-xi)
		}
	}
	return s
}

// boxCoxLLF is scipy.stats.boxcox_llf (scipy 1.10): the variance is of
// x^lambda/lambda, which differs from the transform by a constant.
// t is scratch space of len(x).
func boxCoxLLF(lambda float64, x, t []float64) float64 {
	var sumLog float64
	for i, xi := range x {
		lx := math.Log(xi)
		sumLog += lx
		if lambda == 0 {
			t[i] = lx
		} else {
			t[i] = math.Pow(xi, lambda) / lambda
		}
	}
	n := float64(len(x))
	return (lambda-1)*sumLog - n/2*math.Log(MomentsOf(t).Var())
}

// brent minimises f as scipy.optimize.brent(f, brack=(a, b)) does: scipy's
// downhill bracket search from (a, b), then Brent's method with scipy's
// tolerances, so lambdas agree with scikit-learn's to its tolerance.
func brent(f func(float64) float64, xa, xb float64) float64 {
	const (
		gold      = 1.618034
		verySmall = 1e-21
		growLimit = 110.0
		tol       = 1.48e-8
		minTol    = 1.0e-11
		cg        = 0.3819660
		maxIter   = 500
	)
	// scipy.optimize.bracket.
	fa, fb := f(xa), f(xb)
	if fa < fb {
		xa, xb, fa, fb = xb, xa, fb, fa
	}
	xc := xb + gold*(xb-xa)
	fc := f(xc)
	for it := 0; fc < fb && it < 1000; it++ {
		tmp1 := (xb - xa) * (fb - fc)
		tmp2 := (xb - xc) * (fb - fa)
		val := tmp2 - tmp1
		denom := 2.0 * val
		if math.Abs(val) < verySmall {
			denom = 2.0 * verySmall
		}
		w := xb - ((xb-xc)*tmp2-(xb-xa)*tmp1)/denom
		wlim := xb + growLimit*(xc-xb)
		var fw float64
		switch {
		case (w-xc)*(xb-w) > 0:
			fw = f(w)
			if fw < fc {
				xa, xb, fa, fb = xb, w, fb, fw
				goto bracketed
			} else if fw > fb {
				xc, fc = w, fw
				goto bracketed
			}
			w = xc + gold*(xc-xb)
			fw = f(w)
		case (w-wlim)*(wlim-xc) >= 0:
			w = wlim
			fw = f(w)
		case (w-wlim)*(xc-w) > 0:
			fw = f(w)
			if fw < fc {
				xb, xc = xc, w
				w = xc + gold*(xc-xb)
				fb, fc = fc, fw
				fw = f(w)
			}
		default:
			w = xc + gold*(xc-xb)
			fw = f(w)
		}
		xa, xb, xc = xb, xc, w
		fa, fb, fc = fb, fc, fw
	}
bracketed:
	// Brent's method (scipy.optimize.Brent.optimize).
	x, w, v := xb, xb, xb
	fx, fw, fv := fb, fb, fb
	a, b := xa, xc
	if xa >= xc {
		a, b = xc, xa
	}
	var deltax, rat float64
	for it := 0; it < maxIter; it++ {
		tol1 := tol*math.Abs(x) + minTol
		tol2 := 2 * tol1
		xmid := 0.5 * (a + b)
		if math.Abs(x-xmid) < tol2-0.5*(b-a) {
			break
		}
		if math.Abs(deltax) <= tol1 {
			if x >= xmid {
				deltax = a - x
			} else {
				deltax = b - x
			}
			rat = cg * deltax
		} else {
			tmp1 := (x - w) * (fx - fv)
			tmp2 := (x - v) * (fx - fw)
			p := (x-v)*tmp2 - (x-w)*tmp1
			tmp2 = 2 * (tmp2 - tmp1)
			if tmp2 > 0 {
				p = -p
			}
			tmp2 = math.Abs(tmp2)
			dxTemp := deltax
			deltax = rat
			if p > tmp2*(a-x) && p < tmp2*(b-x) && math.Abs(p) < math.Abs(0.5*tmp2*dxTemp) {
				rat = p / tmp2
				u := x + rat
				if u-a < tol2 || b-u < tol2 {
					if xmid-x >= 0 {
						rat = tol1
					} else {
						rat = -tol1
					}
				}
			} else {
				if x >= xmid {
					deltax = a - x
				} else {
					deltax = b - x
				}
				rat = cg * deltax
			}
		}
		var u float64
		if math.Abs(rat) < tol1 {
			if rat >= 0 {
				u = x + tol1
			} else {
				u = x - tol1
			}
		} else {
			u = x + rat
		}
		fu := f(u)
		if fu > fx {
			if u < x {
				a = u
			} else {
				b = u
			}
			if fu <= fw || w == x {
				v, w, fv, fw = w, u, fw, fu
			} else if fu <= fv || v == x || v == w {
				v, fv = u, fu
			}
		} else {
			if u >= x {
				a = x
			} else {
				b = x
			}
			v, w, x = w, x, u
			fv, fw, fx = fw, fx, fu
		}
	}
	return x
}
