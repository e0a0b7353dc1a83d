package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// Adapter turns a request into the model's input batch, checked against
// the model's features. Errors are answered 400 unless they are an *Error
// with another status; an adapter must never panic on bad input. The
// caller releases the record.
type Adapter func(req *Request, in *InputSchema) (arrow.Record, error)

// JSONAdapter is the default Adapter: the body holds JSON records or the
// columnar form (see InputSchema.DecodeJSON). A request with a
// Content-Type other than application/json (or an application/*+json
// type) is refused with 415; one without a Content-Type is read as JSON.
func JSONAdapter(req *Request, in *InputSchema) (arrow.Record, error) {
	if err := checkJSONContentType(req.Header); err != nil {
		return nil, err
	}
	return in.DecodeJSON(req.Body)
}

// checkJSONContentType answers 415 unless the Content-Type header is
// absent or names JSON.
func checkJSONContentType(h http.Header) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Err: ErrInvalidInput,
		Message: fmt.Sprintf("Content-Type %q is not supported: send the inputs as JSON with Content-Type: application/json", ct)}
}

// predictorAllow is the Allow header of a predictor's 405 answers.
var predictorAllow = http.Header{"Allow": {"GET, HEAD, POST"}}

// PredictorDeployment serves a trained model: each replica builds its
// predictor with factory(ckpt); POST a JSON body (records or columnar, or
// whatever adapter accepts; nil means JSONAdapter) to get
// {"predictions": [...]} (one key per output column). GET returns the
// model's features. Input is checked against the features recorded in the
// checkpoint (or, if it records none, the predictor's Features).
//
// The returned Deployment has no Name or RoutePrefix: set them, and any
// other field, before serving it.
func PredictorDeployment(ckpt *checkpoint.Checkpoint, factory train.PredictorFactory, adapter Adapter) Deployment {
	if adapter == nil {
		adapter = JSONAdapter
	}
	return Deployment{
		New: func(ctx context.Context, rc *ReplicaContext) (Handler, error) {
			if ckpt == nil || factory == nil {
				return nil, fmt.Errorf("%w: PredictorDeployment needs a checkpoint and a predictor factory", ErrInvalidInput)
			}
			return NewPredictorHandler(ckpt, factory, adapter)
		},
	}
}

// PredictorHandler is the Handler behind PredictorDeployment.
type PredictorHandler struct {
	pred    train.Predictor
	in      *InputSchema
	adapter Adapter
	info    []byte
	rows    *rowModel // nil: every request takes the Arrow path
}

// NewPredictorHandler loads the predictor from ckpt. It is what each
// replica of a PredictorDeployment runs; call it directly to embed a
// predictor in your own deployment.
func NewPredictorHandler(ckpt *checkpoint.Checkpoint, factory train.PredictorFactory, adapter Adapter) (*PredictorHandler, error) {
	if adapter == nil {
		adapter = JSONAdapter
	}
	pred, err := factory(ckpt)
	if err != nil {
		return nil, fmt.Errorf("loading predictor from %s: %w", ckpt.Path(), err)
	}
	feats := ckpt.Metadata().Features
	if len(feats) == 0 {
		feats = pred.Features()
	}
	in, err := NewInputSchema(feats)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ckpt.Path(), err)
	}
	meta := ckpt.Metadata()
	info, _ := json.Marshal(map[string]any{
		"framework": meta.Framework, "features": in.Features, "metrics": meta.Metrics,
		"checkpoint": ckpt.Path(),
	})
	h := &PredictorHandler{pred: pred, in: in, adapter: adapter, info: info}
	if rm := newRowModel(ckpt, factory, adapter, pred, in); rm != nil && h.rowPathAgrees(rm) {
		h.rows = rm
	}
	return h, nil
}

// rowPathAgrees scores a few probe rows both ways: a row path that does
// not answer the Arrow path's bytes is not used.
func (h *PredictorHandler) rowPathAgrees(rm *rowModel) bool {
	probes := [][]float64{make([]float64, len(h.in.Features)), make([]float64, len(h.in.Features))}
	for j := range probes[1] {
		probes[1][j] = float64(j+1) / 7
	}
	var body []byte
	body = append(body, '[')
	for r, row := range probes {
		if r > 0 {
			body = append(body, ',')
		}
		body = append(body, '{')
		for j, f := range h.in.Features {
			if j > 0 {
				body = append(body, ',')
			}
			body = strconv.AppendQuote(body, f.Name)
			body = append(body, ':')
			body = strconv.AppendFloat(body, row[j], 'g', -1, 64)
		}
		body = append(body, '}')
	}
	body = append(body, ']')
	ctx := context.Background()
	req := &Request{Method: http.MethodPost, Path: "/", Body: body}
	want, err := h.predictArrow(ctx, req)
	if err != nil {
		return false
	}
	c, err := h.in.decodeColumns(body)
	if err != nil {
		return false
	}
	defer h.in.putColumns(c)
	got, err := rm.predict(ctx, c)
	return err == nil && bytes.Equal(got, want)
}

// Schema is the input the handler checks requests against.
func (h *PredictorHandler) Schema() *InputSchema { return h.in }

// ServeRequest implements Handler.
func (h *PredictorHandler) ServeRequest(ctx context.Context, req *Request) (*Response, error) {
	if req.Path != "/" && req.Path != "" {
		return nil, Errorf(http.StatusNotFound, "no such path %q: POST inputs to the deployment's route", req.Path)
	}
	switch req.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodHead:
		return &Response{Body: h.info}, nil
	default:
		return nil, &Error{Status: http.StatusMethodNotAllowed, Header: predictorAllow,
			Message: fmt.Sprintf("method %s not allowed: POST inputs to predict, GET the model's features", req.Method)}
	}
	body, err := h.Predict(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Response{Body: body}, nil
}

// Predict decodes req with the adapter, scores it and returns the JSON
// answer.
func (h *PredictorHandler) Predict(ctx context.Context, req *Request) ([]byte, error) {
	if h.rows == nil {
		return h.predictArrow(ctx, req)
	}
	// JSONAdapter, without the record for small requests.
	if err := checkJSONContentType(req.Header); err != nil {
		return nil, err
	}
	c, err := h.in.decodeColumns(req.Body)
	if err != nil {
		return nil, err
	}
	defer h.in.putColumns(c)
	if c.nrows <= rowPathMaxRows {
		return h.rows.predict(ctx, c)
	}
	rec := c.record()
	defer rec.Release()
	return h.predictRecord(ctx, rec)
}

// predictArrow is Predict through the adapter and the predictor.
func (h *PredictorHandler) predictArrow(ctx context.Context, req *Request) ([]byte, error) {
	rec, err := h.decode(req)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	return h.predictRecord(ctx, rec)
}

func (h *PredictorHandler) predictRecord(ctx context.Context, rec arrow.Record) ([]byte, error) {
	out, err := h.pred.Predict(ctx, rec)
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			return nil, &Error{Status: http.StatusBadRequest, Message: err.Error(), Err: err}
		}
		return nil, fmt.Errorf("predictor: %w", err)
	}
	defer out.Release()
	if out.NumRows() != rec.NumRows() {
		return nil, fmt.Errorf("predictor returned %d rows for %d inputs", out.NumRows(), rec.NumRows())
	}
	return EncodeJSON(make([]byte, 0, 32+24*int(out.NumRows())), out)
}

func (h *PredictorHandler) decode(req *Request) (rec arrow.Record, err error) {
	defer func() {
		if p := recover(); p != nil {
			// The adapter choked on the client's payload: a bad request.
			rec, err = nil, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("cannot decode the request body: adapter panicked: %v", p), Err: ErrInvalidInput}
		}
	}()
	rec, err = h.adapter(req, h.in)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &Error{Status: http.StatusBadRequest, Message: err.Error(), Err: errors.Join(ErrInvalidInput, err)}
	}
	if rec == nil {
		return nil, errors.New("adapter returned no record")
	}
	return rec, nil
}

// EncodeJSON appends rec as a JSON object of columns to dst:
// {"predictions": [0.93, ...], "probabilities": [[0.1, 0.9], ...]}.
// NaN and infinities become null.
func EncodeJSON(dst []byte, rec arrow.Record) ([]byte, error) {
	dst = append(dst, '{')
	for i, col := range rec.Columns() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, rec.ColumnName(i))
		dst = append(dst, ':')
		var err error
		if dst, err = appendArray(dst, col); err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return append(dst, '}'), nil
}

func appendArray(dst []byte, a arrow.Array) ([]byte, error) {
	dst = append(dst, '[')
	n := a.Len()
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		if a.IsNull(i) {
			dst = append(dst, "null"...)
			continue
		}
		var err error
		if dst, err = appendValue(dst, a, i); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

func appendValue(dst []byte, a arrow.Array, i int) ([]byte, error) {
	switch a := a.(type) {
	case *array.Float64:
		return appendFloat(dst, a.Value(i), 64), nil
	case *array.Float32:
		return appendFloat(dst, float64(a.Value(i)), 32), nil
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10), nil
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int8:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i)), nil
	case *array.String:
		b, _ := json.Marshal(a.Value(i))
		return append(dst, b...), nil
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		dst = append(dst, '[')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ',')
			}
			if vals.IsNull(int(j)) {
				dst = append(dst, "null"...)
				continue
			}
			var err error
			if dst, err = appendValue(dst, vals, int(j)); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(a.GetOneForMarshal(i))
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}
