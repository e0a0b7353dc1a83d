// Package csvx is a fast CSV parser that turns byte ranges of a file into
// Arrow records. A file is first cut into chunks at row boundaries (Plan,
// which understands quoted fields spanning lines); chunks are then parsed
// independently (ParseChunk), so a caller can parse them on several cores.
// Every error carries the real 1-based file line and column.
package csvx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Options controls tokenizing and value conversion.
type Options struct {
	File       string // for error messages
	Delimiter  byte   // ',' when zero
	NullValues []string
	// LazyQuotes keeps a '"' that appears inside an unquoted field as a
	// literal character. Without it such a quote is an error (RFC 4180): it
	// usually means a field that should have been quoted.
	LazyQuotes bool
	nullSet    map[string]struct{}
}

// DefaultNullValues are the strings read as null when none are given.
var DefaultNullValues = []string{"", "NA", "N/A", "NULL", "null", "NaN", "nan", "None"}

func (o *Options) prepare() {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.nullSet == nil {
		nv := o.NullValues
		if nv == nil {
			nv = DefaultNullValues
		}
		o.nullSet = make(map[string]struct{}, len(nv))
		for _, s := range nv {
			o.nullSet[s] = struct{}{}
		}
	}
}

func (o *Options) isNull(f []byte) bool {
	_, ok := o.nullSet[unsafe.String(unsafe.SliceData(f), len(f))]
	return ok
}

// ParseError locates a problem in the input. Column is 1-based; 0 means the
// error concerns the whole line.
type ParseError struct {
	File       string
	Line       int
	Column     int
	ColumnName string
	Msg        string
}

func (e *ParseError) Error() string {
	s := fmt.Sprintf("file %q line %d", e.File, e.Line)
	if e.Column > 0 {
		s += fmt.Sprintf(" column %d", e.Column)
		if e.ColumnName != "" {
			s += fmt.Sprintf(" (%q)", e.ColumnName)
		}
	}
	return s + ": " + e.Msg
}

const msgUnterminated = "unterminated quoted field"

// tokenizer splits records out of a byte buffer.
type tokenizer struct {
	buf     []byte
	pos     int
	line    int // line of buf[pos]
	delim   byte
	fields  [][]byte
	scratch []byte
	file    string
	lazy    bool // Options.LazyQuotes
}

// next reads one record into t.fields. It returns false at the end of buf.
// Blank lines are skipped. recLine is the line the record starts on.
func (t *tokenizer) next() (recLine int, ok bool, err error) {
	buf := t.buf
	// Skip blank lines.
	for t.pos < len(buf) {
		c := buf[t.pos]
		if c == '\n' {
			t.pos++
			t.line++
			continue
		}
		if c == '\r' && t.pos+1 < len(buf) && buf[t.pos+1] == '\n' {
			t.pos += 2
			t.line++
			continue
		}
		break
	}
	if t.pos >= len(buf) {
		return t.line, false, nil
	}
	recLine = t.line
	t.fields = t.fields[:0]
	t.scratch = t.scratch[:0]
	delim := t.delim
	pos := t.pos
	for {
		if pos < len(buf) && buf[pos] == '"' {
			// Quoted field.
			start := len(t.scratch)
			pos++
			for {
				if pos >= len(buf) {
					return recLine, false, &ParseError{File: t.file, Line: recLine, Column: len(t.fields) + 1, Msg: msgUnterminated}
				}
				j := bytes.IndexByte(buf[pos:], '"')
				if j < 0 {
					return recLine, false, &ParseError{File: t.file, Line: recLine, Column: len(t.fields) + 1, Msg: msgUnterminated}
				}
				seg := buf[pos : pos+j]
				t.line += bytes.Count(seg, nl)
				t.scratch = append(t.scratch, seg...)
				pos += j + 1
				if pos < len(buf) && buf[pos] == '"' {
					t.scratch = append(t.scratch, '"')
					pos++
					continue
				}
				break
			}
			t.fields = append(t.fields, t.scratch[start:len(t.scratch):len(t.scratch)])
			// After the closing quote: delimiter, end of line or end of input.
			if pos < len(buf) && buf[pos] == '\r' {
				pos++
			}
			if pos >= len(buf) {
				break
			}
			c := buf[pos]
			if c == delim {
				pos++
				continue
			}
			if c == '\n' {
				pos++
				t.line++
				break
			}
			return recLine, false, &ParseError{File: t.file, Line: t.line, Column: len(t.fields), Msg: fmt.Sprintf("unexpected %q after closing quote", c)}
		}
		start := pos
		for pos < len(buf) {
			c := buf[pos]
			if c == delim || c == '\n' {
				break
			}
			if c == '"' && !t.lazy {
				return recLine, false, &ParseError{File: t.file, Line: t.line, Column: len(t.fields) + 1,
					Msg: "bare \" in an unquoted field (quote the field and double its quotes, or read with lazy quotes)"}
			}
			pos++
		}
		end := pos
		if end > start && buf[end-1] == '\r' {
			end--
		}
		t.fields = append(t.fields, buf[start:end:end])
		if pos >= len(buf) {
			break
		}
		if buf[pos] == '\n' {
			pos++
			t.line++
			break
		}
		pos++ // delimiter
	}
	t.pos = pos
	return recLine, true, nil
}

var nl = []byte{'\n'}

// ErrIncomplete is returned by ParseHeader when buf ends inside the header
// record and more of the file follows: read more and call it again.
var ErrIncomplete = errors.New("csvx: header record continues past the buffer")

// ParseHeader reads the header record at the start of buf and returns the
// column names and the bytes and lines it used. atEOF says that buf holds
// the rest of the file; when it does not and the header record runs to the
// end of buf, ParseHeader returns ErrIncomplete.
func ParseHeader(buf []byte, opts Options, atEOF bool) (names []string, n int, lines int, err error) {
	opts.prepare()
	t := tokenizer{buf: buf, delim: opts.Delimiter, line: 1, file: opts.File, lazy: opts.LazyQuotes}
	_, ok, err := t.next()
	if !atEOF {
		// A cut header looks short, missing or unterminated (in a quote).
		var pe *ParseError
		if (err == nil && (!ok || (t.pos == len(buf) && buf[len(buf)-1] != '\n'))) ||
			(errors.As(err, &pe) && pe.Msg == msgUnterminated) {
			return nil, 0, 0, ErrIncomplete
		}
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if !ok {
		return nil, 0, 0, &ParseError{File: opts.File, Line: 1, Msg: "empty file: no header"}
	}
	if err := checkBinary(buf[:t.pos], 1, opts); err != nil {
		return nil, 0, 0, err
	}
	seen := map[string]bool{}
	for i, f := range t.fields {
		if !utf8.Valid(f) {
			return nil, 0, 0, &ParseError{File: opts.File, Line: 1, Column: i + 1, Msg: fmt.Sprintf("column name %q is not valid UTF-8", truncate(f))}
		}
		name := string(f)
		if i == 0 {
			name = string(bytes.TrimPrefix(f, []byte("\ufeff")))
		}
		if name == "" {
			name = fmt.Sprintf("column_%d", i+1)
		}
		if seen[name] {
			return nil, 0, 0, &ParseError{File: opts.File, Line: 1, Column: i + 1, ColumnName: name, Msg: "duplicate column name"}
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, t.pos, t.line - 1, nil
}

// Infer guesses a type per column from the records in sample (whole records
// only; a trailing partial record is ignored). Types are int64, float64, bool
// or string; a column of only nulls is string. override maps column names to
// fixed types.
func Infer(sample []byte, names []string, override map[string]arrow.DataType, maxRows int, opts Options) []arrow.DataType {
	opts.prepare()
	n := len(names)
	canInt, canFloat, canBool, seen := make([]bool, n), make([]bool, n), make([]bool, n), make([]bool, n)
	for i := range n {
		canInt[i], canFloat[i], canBool[i] = true, true, true
	}
	t := tokenizer{buf: sample, delim: opts.Delimiter, line: 1, lazy: opts.LazyQuotes}
	for rows := 0; rows < maxRows; rows++ {
		_, ok, err := t.next()
		if !ok || err != nil {
			break
		}
		if t.pos >= len(sample) && rows > 0 && sample[len(sample)-1] != '\n' {
			break // probably cut off
		}
		for i, f := range t.fields {
			if i >= n || opts.isNull(f) {
				continue
			}
			seen[i] = true
			if canInt[i] {
				if _, ok := parseInt(f); !ok {
					canInt[i] = false
				}
			}
			if canFloat[i] {
				if _, ok := parseFloat(f); !ok {
					canFloat[i] = false
				}
			}
			if canBool[i] {
				if _, ok := parseBool(f); !ok {
					canBool[i] = false
				}
			}
		}
	}
	out := make([]arrow.DataType, n)
	for i, name := range names {
		switch {
		case override[name] != nil:
			out[i] = override[name]
		case !seen[i]:
			out[i] = arrow.BinaryTypes.String
		case canInt[i]:
			out[i] = arrow.PrimitiveTypes.Int64
		case canFloat[i]:
			out[i] = arrow.PrimitiveTypes.Float64
		case canBool[i]:
			out[i] = arrow.FixedWidthTypes.Boolean
		default:
			out[i] = arrow.BinaryTypes.String
		}
	}
	return out
}

// Supported reports whether ParseChunk can produce the type.
func Supported(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT64, arrow.INT32, arrow.FLOAT64, arrow.FLOAT32, arrow.BOOL, arrow.STRING:
		return true
	}
	return false
}

type column interface {
	add(f []byte) bool // false: cannot convert
	builder() array.Builder
}

type floatCol struct {
	b    *array.Float64Builder
	opts *Options
}

func (c *floatCol) add(f []byte) bool {
	if v, ok := parseFloat(f); ok {
		c.b.UnsafeAppend(v) // capacity reserved by ParseChunk
		return true
	}
	if c.opts.isNull(f) {
		c.b.UnsafeAppendBoolToBitmap(false)
		return true
	}
	return false
}
func (c *floatCol) builder() array.Builder { return c.b }

type float32Col struct {
	b    *array.Float32Builder
	opts *Options
}

func (c *float32Col) add(f []byte) bool {
	if v, ok := parseFloat(f); ok {
		c.b.Append(float32(v))
		return true
	}
	if c.opts.isNull(f) {
		c.b.AppendNull()
		return true
	}
	return false
}
func (c *float32Col) builder() array.Builder { return c.b }

type intCol struct {
	b    *array.Int64Builder
	opts *Options
}

func (c *intCol) add(f []byte) bool {
	if v, ok := parseInt(f); ok {
		c.b.UnsafeAppend(v) // capacity reserved by ParseChunk
		return true
	}
	if c.opts.isNull(f) {
		c.b.UnsafeAppendBoolToBitmap(false)
		return true
	}
	return false
}
func (c *intCol) builder() array.Builder { return c.b }

type int32Col struct {
	b    *array.Int32Builder
	opts *Options
}

func (c *int32Col) add(f []byte) bool {
	if v, ok := parseInt(f); ok && v >= math.MinInt32 && v <= math.MaxInt32 {
		c.b.Append(int32(v))
		return true
	}
	if c.opts.isNull(f) {
		c.b.AppendNull()
		return true
	}
	return false
}
func (c *int32Col) builder() array.Builder { return c.b }

type boolCol struct {
	b    *array.BooleanBuilder
	opts *Options
}

func (c *boolCol) add(f []byte) bool {
	if v, ok := parseBool(f); ok {
		c.b.Append(v)
		return true
	}
	if c.opts.isNull(f) {
		c.b.AppendNull()
		return true
	}
	return false
}
func (c *boolCol) builder() array.Builder { return c.b }

type stringCol struct {
	b    *array.StringBuilder
	opts *Options
}

func (c *stringCol) add(f []byte) bool {
	if c.opts.isNull(f) {
		c.b.AppendNull()
		return true
	}
	if !utf8.Valid(f) {
		return false
	}
	c.b.BinaryBuilder.Append(f)
	return true
}
func (c *stringCol) builder() array.Builder { return c.b }

func newColumn(mem memory.Allocator, dt arrow.DataType, opts *Options) column {
	switch dt.ID() {
	case arrow.INT64:
		return &intCol{array.NewInt64Builder(mem), opts}
	case arrow.INT32:
		return &int32Col{array.NewInt32Builder(mem), opts}
	case arrow.FLOAT64:
		return &floatCol{array.NewFloat64Builder(mem), opts}
	case arrow.FLOAT32:
		return &float32Col{array.NewFloat32Builder(mem), opts}
	case arrow.BOOL:
		return &boolCol{array.NewBooleanBuilder(mem), opts}
	default:
		return &stringCol{array.NewStringBuilder(mem), opts}
	}
}

// ParseChunk parses every record in buf (which starts at a row boundary on
// file line startLine) into one record with the given schema.
func ParseChunk(mem memory.Allocator, buf []byte, startLine int, schema *arrow.Schema, opts Options) (arrow.Record, error) {
	opts.prepare()
	n := schema.NumFields()
	cols := make([]column, n)
	for i := range cols {
		cols[i] = newColumn(mem, schema.Field(i).Type, &opts)
	}
	defer func() {
		for _, c := range cols {
			c.builder().Release()
		}
	}()
	// Every record but the last ends with a newline, so this bounds the
	// rows: numeric columns append without capacity checks.
	maxRows := bytes.Count(buf, nl) + 1
	for _, c := range cols {
		c.builder().Reserve(maxRows)
	}
	if err := checkBinary(buf, startLine, opts); err != nil {
		return nil, err
	}
	t := tokenizer{buf: buf, delim: opts.Delimiter, line: startLine, file: opts.File, lazy: opts.LazyQuotes}
	rows := int64(0)
	for {
		line, ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if len(t.fields) != n {
			if n == 1 && len(t.fields) == 0 {
				t.fields = append(t.fields, nil)
			} else if len(t.fields) > n {
				return nil, &ParseError{File: opts.File, Line: line, Column: n + 1,
					Msg: fmt.Sprintf("ragged row: %d fields, header has %d columns", len(t.fields), n)}
			} else {
				return nil, &ParseError{File: opts.File, Line: line, Column: len(t.fields) + 1, ColumnName: schema.Field(len(t.fields)).Name,
					Msg: fmt.Sprintf("ragged row: %d fields, header has %d columns", len(t.fields), n)}
			}
		}
		for i, f := range t.fields {
			if !cols[i].add(f) {
				msg := fmt.Sprintf("cannot parse %q as %s", truncate(f), schema.Field(i).Type)
				if schema.Field(i).Type.ID() == arrow.STRING {
					msg = fmt.Sprintf("invalid UTF-8 in %q (string columns hold UTF-8 text)", truncate(f))
				}
				return nil, &ParseError{File: opts.File, Line: line, Column: i + 1, ColumnName: schema.Field(i).Name, Msg: msg}
			}
		}
		rows++
	}
	arrs := make([]arrow.Array, n)
	for i, c := range cols {
		arrs[i] = c.builder().NewArray()
	}
	rec := array.NewRecord(schema, arrs, rows)
	for _, a := range arrs {
		a.Release()
	}
	return rec, nil
}

func truncate(f []byte) string {
	if len(f) > 40 {
		return string(f[:40]) + "..."
	}
	return string(f)
}

// checkBinary rejects buf if it holds a NUL byte, which no text file has:
// the file is binary (Parquet, Arrow, a compressed file...), and parsing it
// would give garbage columns rather than an error.
func checkBinary(buf []byte, startLine int, opts Options) error {
	i := bytes.IndexByte(buf, 0)
	if i < 0 {
		return nil
	}
	line, col := Locate(buf, startLine, i, opts)
	return &ParseError{File: opts.File, Line: line, Column: col, Msg: "NUL byte: this is a binary file, not CSV text"}
}

// Locate returns the file line and the 1-based column (field) of byte off
// of buf, which starts at a record boundary on file line startLine.
func Locate(buf []byte, startLine, off int, opts Options) (line, col int) {
	opts.prepare()
	var s quoteState
	s.fieldStart = true
	line, col = startLine, 1
	for _, c := range buf[:min(off, len(buf))] {
		if s.step(c, opts.Delimiter) {
			switch c {
			case opts.Delimiter:
				col++
			case '\n':
				col = 1
			}
		}
		if c == '\n' {
			line++
		}
	}
	return line, col
}

// quoteState follows the quoting of a byte stream the way the tokenizer
// does: a quote opens a quoted field only at the start of a field, and a
// doubled quote inside one is a literal quote.
type quoteState struct {
	inQuote    bool
	afterQuote bool // just left a quoted field: a '"' now is an escaped one
	fieldStart bool
}

// step advances over c and reports whether c is outside quotes (so a
// delimiter or newline there ends a field or record).
func (s *quoteState) step(c, delim byte) bool {
	switch {
	case s.inQuote:
		if c == '"' {
			s.inQuote, s.afterQuote = false, true
		}
		return false
	case s.afterQuote && c == '"':
		s.inQuote, s.afterQuote = true, false
		return false
	}
	s.afterQuote = false
	if c == '"' && s.fieldStart {
		s.inQuote, s.fieldStart = true, false
		return false
	}
	s.fieldStart = c == delim || c == '\n'
	return true
}

// Chunk is a byte range of a file that starts at a row boundary.
type Chunk struct {
	Off, End int64
	Line     int // file line of the first byte
}

// Plan cuts [start, size) of r into chunks of about chunkBytes, each starting
// at a row boundary, scanning the file once (fast when it has no quotes). line
// is the file line at start; opts gives the delimiter. Quotes are followed
// as the tokenizer reads them, so a stray quote inside an unquoted field
// (allowed with LazyQuotes, an error otherwise) does not shift the cuts.
func Plan(r io.ReaderAt, start, size, chunkBytes int64, line int, opts Options) ([]Chunk, error) {
	opts.prepare()
	delim := opts.Delimiter
	if chunkBytes <= 0 {
		chunkBytes = 16 << 20
	}
	var chunks []Chunk
	cur := Chunk{Off: start, Line: line}
	if size-start <= chunkBytes {
		if size > start {
			cur.End = size
			chunks = append(chunks, cur)
		}
		return chunks, nil
	}
	const piece = 4 << 20
	buf := make([]byte, piece)
	qs := quoteState{fieldStart: true}
	target := start + chunkBytes
	for off := start; off < size; {
		n, err := r.ReadAt(buf[:min(piece, size-off)], off)
		if n == 0 && err != nil {
			return nil, err
		}
		p := buf[:n]
		if !qs.inQuote && bytes.IndexByte(p, '"') < 0 {
			// Fast path: no quotes in this piece.
			pos := 0
			for target < off+int64(n) {
				rel := int(target - off)
				if rel < pos {
					rel = pos
				}
				j := bytes.IndexByte(p[rel:], '\n')
				if j < 0 {
					break
				}
				cut := rel + j + 1
				line += bytes.Count(p[pos:cut], nl)
				pos = cut
				cur.End = off + int64(cut)
				chunks = append(chunks, cur)
				cur = Chunk{Off: cur.End, Line: line}
				target = cur.Off + chunkBytes
			}
			line += bytes.Count(p[pos:], nl)
			if n > 0 {
				last := p[n-1]
				qs = quoteState{fieldStart: last == '\n' || last == delim}
			}
		} else {
			for i, c := range p {
				outside := qs.step(c, delim)
				if c == '\n' {
					line++
					if outside && off+int64(i) >= target {
						cur.End = off + int64(i) + 1
						chunks = append(chunks, cur)
						cur = Chunk{Off: cur.End, Line: line}
						target = cur.Off + chunkBytes
					}
				}
			}
		}
		off += int64(n)
	}
	if cur.Off < size {
		cur.End = size
		chunks = append(chunks, cur)
	}
	return chunks, nil
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal number. Plain decimals with at most 15
// significant digits take an exact fast path (Clinger); everything else goes
// to strconv.
func parseFloat(f []byte) (float64, bool) {
	if len(f) == 0 {
		return 0, false
	}
	i := 0
	neg := false
	if f[0] == '-' || f[0] == '+' {
		neg = f[0] == '-'
		i++
	}
	var m uint64
	digits, frac := 0, 0
	sawDot := false
	start := i
	for ; i < len(f); i++ {
		c := f[i]
		if c >= '0' && c <= '9' {
			if m == 0 && c == '0' && !sawDot {
				continue // leading zeros
			}
			m = m*10 + uint64(c-'0')
			digits++
			if sawDot {
				frac++
			}
			continue
		}
		if c == '.' && !sawDot {
			sawDot = true
			continue
		}
		break
	}
	if i == len(f) && i > start && !(i == start+1 && sawDot) && digits <= 15 {
		v := float64(m)
		if frac > 0 {
			v /= pow10[frac]
		}
		if neg {
			v = -v
		}
		return v, true
	}
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(f), len(f)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

func parseInt(f []byte) (int64, bool) {
	if len(f) == 0 || len(f) > 19 {
		if len(f) > 19 {
			v, err := strconv.ParseInt(string(f), 10, 64)
			return v, err == nil
		}
		return 0, false
	}
	i := 0
	neg := false
	if f[0] == '-' || f[0] == '+' {
		neg = f[0] == '-'
		i++
		if len(f) == 1 {
			return 0, false
		}
	}
	var v int64
	for ; i < len(f); i++ {
		c := f[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if v < 0 { // overflow of 19 digits
		x, err := strconv.ParseInt(string(f), 10, 64)
		return x, err == nil
	}
	if neg {
		v = -v
	}
	return v, true
}

func parseBool(f []byte) (bool, bool) {
	switch string(f) {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
