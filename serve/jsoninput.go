package serve

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
)

// DecodeJSON decodes a request body into a record of the schema's
// features. Two shapes are accepted:
//
//	[{"mean radius": 17.99, ...}, ...]               records (or one bare record object)
//	{"columns": ["mean radius", ...], "data": [[17.99, ...], ...]}   columnar ("index" is ignored)
//
// Every row must give every feature, with a JSON value of the feature's
// type (numbers for numeric features, integral for integer ones, true or
// false for bool, strings for utf8); unknown names, nulls and duplicates
// are refused. Errors wrap ErrInvalidInput and name the row, the feature
// and what was wrong. The caller releases the record.
func (in *InputSchema) DecodeJSON(body []byte) (arrow.Record, error) {
	c, err := in.decodeColumns(body)
	if err != nil {
		return nil, err
	}
	defer in.putColumns(c)
	return c.record(), nil
}

// decodeColumns is DecodeJSON up to the columns, which the caller puts
// back with putColumns.
func (in *InputSchema) decodeColumns(body []byte) (*columns, error) {
	c := in.getColumns()
	d := jsonDecoder{in: in, c: c, b: body}
	if err := d.decode(); err != nil {
		in.putColumns(c)
		return nil, err
	}
	return c, nil
}

// jsonDecoder is a small, strict JSON reader specialised for model input:
// it writes values straight into typed columns, with no reflection and no
// per-value allocation.
type jsonDecoder struct {
	in  *InputSchema
	c   *columns
	b   []byte
	pos int
	// row is the row being decoded, for messages.
	row int
}

const maxJSONDepth = 64

func (d *jsonDecoder) decode() error {
	d.ws()
	if d.pos == len(d.b) {
		return badRequest("empty request body: send JSON records [{...}] or {\"columns\": [...], \"data\": [[...]]}")
	}
	var err error
	switch d.b[d.pos] {
	case '[':
		err = d.records()
	case '{':
		err = d.object()
	default:
		if err := d.skipValue(0); err != nil {
			return err
		}
		return badRequest("expected a JSON array of records or an object, got %s", describeJSON(d.b, 0, d.pos))
	}
	if err != nil {
		return err
	}
	d.ws()
	if d.pos != len(d.b) {
		return d.syntax("unexpected data after the JSON value")
	}
	return nil
}

func (d *jsonDecoder) ws() {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) syntax(msg string) error {
	if d.pos >= len(d.b) {
		return badRequest("malformed JSON: %s: unexpected end of input", msg)
	}
	return badRequest("malformed JSON at byte %d (%s): %s", d.pos, snippet(d.b, d.pos), msg)
}

// expect consumes byte ch after whitespace.
func (d *jsonDecoder) expect(ch byte, what string) error {
	d.ws()
	if d.pos >= len(d.b) || d.b[d.pos] != ch {
		return d.syntax("expected " + what)
	}
	d.pos++
	return nil
}

// records decodes [{...}, {...}].
func (d *jsonDecoder) records() error {
	d.pos++ // '['
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == ']' {
		d.pos++
		return badRequest("no records: the request holds an empty list")
	}
	for {
		d.ws()
		if d.pos >= len(d.b) {
			return d.syntax("unterminated list of records")
		}
		if d.b[d.pos] != '{' {
			start := d.pos
			if err := d.skipValue(1); err != nil {
				return err
			}
			return badRequest("row %d: expected a JSON object of feature values, got %s", d.row, describeJSON(d.b, start, d.pos))
		}
		if err := d.record(); err != nil {
			return err
		}
		d.ws()
		if d.pos >= len(d.b) {
			return d.syntax("unterminated list of records")
		}
		switch d.b[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			return d.syntax("expected ',' or ']' after a record")
		}
	}
}

// object decodes a top-level object: columnar form or one bare record.
func (d *jsonDecoder) object() error {
	start := d.pos
	d.pos++
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == '"' {
		key, _, err := d.str()
		if err != nil {
			return err
		}
		if k := string(key); k == "columns" || k == "data" || k == "index" {
			if _, isFeature := d.in.index[k]; !isFeature {
				d.pos = start
				return d.columnar()
			}
		}
	}
	d.pos = start
	return d.record()
}

// record decodes one {"feature": value, ...} into the next row.
func (d *jsonDecoder) record() error {
	c := d.c
	c.stamp++
	if c.stamp == 0 { // wrapped: reset
		clear(c.seen)
		c.stamp = 1
	}
	d.pos++ // '{'
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == '}' {
		d.pos++
		return d.checkRow()
	}
	// Keys are expected in the order the last record gave them (schema
	// order at first): a hit costs a string comparison, not a map lookup.
	prev := len(d.in.Features)
	for {
		d.ws()
		if d.pos >= len(d.b) || d.b[d.pos] != '"' {
			return d.syntax("expected a feature name in double quotes")
		}
		key, esc, err := d.str()
		if err != nil {
			return err
		}
		idx := -1
		if next := int(d.in.follow[prev].Load()); !esc && next < len(d.in.Features) && d.in.Features[next].Name == unsafeString(key) {
			idx = next
		} else if i, ok := d.in.index[string(key)]; ok {
			idx = i
			d.in.follow[prev].Store(int32(i))
		}
		if idx < 0 {
			return badRequest("row %d: unknown feature %q; the model takes %s", d.row, key, d.in.featureList())
		}
		if c.seen[idx] == c.stamp {
			return badRequest("row %d: feature %q given twice", d.row, key)
		}
		c.seen[idx] = c.stamp
		prev = idx
		if err := d.expect(':', "':' after a feature name"); err != nil {
			return err
		}
		d.ws()
		if err := d.value(idx); err != nil {
			return err
		}
		d.ws()
		if d.pos >= len(d.b) {
			return d.syntax("unterminated record")
		}
		switch d.b[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return d.checkRow()
		default:
			return d.syntax("expected ',' or '}' in a record")
		}
	}
}

// checkRow ends a row: every feature must have been set.
func (d *jsonDecoder) checkRow() error {
	c := d.c
	for j, s := range c.seen {
		if s != c.stamp {
			return badRequest("row %d: missing feature %q (%s)", d.row, d.in.Features[j].Name, d.in.Features[j].Type)
		}
	}
	c.nrows++
	d.row++
	return nil
}

// columnar decodes {"columns": [...], "data": [[...], ...]}.
func (d *jsonDecoder) columnar() error {
	d.pos++         // '{'
	var order []int // column position -> feature index
	dataAt := -1
	for {
		d.ws()
		if d.pos >= len(d.b) || d.b[d.pos] != '"' {
			return d.syntax("expected a key in double quotes")
		}
		key, _, err := d.str()
		if err != nil {
			return err
		}
		if err := d.expect(':', "':' after a key"); err != nil {
			return err
		}
		d.ws()
		switch string(key) {
		case "columns":
			if order != nil {
				return badRequest("\"columns\" given twice")
			}
			if order, err = d.columnNames(); err != nil {
				return err
			}
		case "data":
			if dataAt >= 0 {
				return badRequest("\"data\" given twice")
			}
			dataAt = d.pos
			if err := d.skipValue(1); err != nil {
				return err
			}
		case "index":
			if err := d.skipValue(1); err != nil {
				return err
			}
		default:
			return badRequest("unexpected key %q in columnar input; expected \"columns\" and \"data\"", key)
		}
		d.ws()
		if d.pos >= len(d.b) {
			return d.syntax("unterminated object")
		}
		if d.b[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.b[d.pos] != '}' {
			return d.syntax("expected ',' or '}'")
		}
		d.pos++
		break
	}
	if order == nil {
		return badRequest("columnar input lacks \"columns\": the list of feature names")
	}
	if dataAt < 0 {
		return badRequest("columnar input lacks \"data\": the list of rows")
	}
	end := d.pos
	d.pos = dataAt
	if err := d.rows(order); err != nil {
		return err
	}
	d.pos = end
	return nil
}

// columnNames reads ["a", "b", ...] and maps each to a feature.
func (d *jsonDecoder) columnNames() ([]int, error) {
	if d.pos >= len(d.b) || d.b[d.pos] != '[' {
		start := d.pos
		if err := d.skipValue(1); err != nil {
			return nil, err
		}
		return nil, badRequest("\"columns\" must be a list of feature names, got %s", describeJSON(d.b, start, d.pos))
	}
	d.pos++
	order := []int{}
	have := make([]bool, len(d.in.Features))
	for {
		d.ws()
		if d.pos < len(d.b) && d.b[d.pos] == ']' && len(order) == 0 {
			d.pos++
			break
		}
		if d.pos >= len(d.b) || d.b[d.pos] != '"' {
			start := d.pos
			if err := d.skipValue(1); err != nil {
				return nil, err
			}
			return nil, badRequest("columns[%d]: expected a feature name string, got %s", len(order), describeJSON(d.b, start, d.pos))
		}
		name, _, err := d.str()
		if err != nil {
			return nil, err
		}
		idx, ok := d.in.index[string(name)]
		if !ok {
			return nil, badRequest("columns[%d]: unknown feature %q; the model takes %s", len(order), name, d.in.featureList())
		}
		if have[idx] {
			return nil, badRequest("columns[%d]: feature %q given twice", len(order), name)
		}
		have[idx] = true
		order = append(order, idx)
		d.ws()
		if d.pos >= len(d.b) {
			return nil, d.syntax("unterminated \"columns\" list")
		}
		if d.b[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.b[d.pos] != ']' {
			return nil, d.syntax("expected ',' or ']' in \"columns\"")
		}
		d.pos++
		break
	}
	for j, ok := range have {
		if !ok {
			return nil, badRequest("columns: missing feature %q (%s)", d.in.Features[j].Name, d.in.Features[j].Type)
		}
	}
	return order, nil
}

// rows reads "data": [[v, v, ...], ...] in the given column order. The
// value was already checked to be well-formed JSON.
func (d *jsonDecoder) rows(order []int) error {
	d.ws()
	if d.b[d.pos] != '[' {
		return badRequest("\"data\" must be a list of rows, got %s", describeJSON(d.b, d.pos, d.valueEnd()))
	}
	d.pos++
	d.ws()
	if d.b[d.pos] == ']' {
		return badRequest("no rows: \"data\" is an empty list")
	}
	for {
		d.ws()
		if d.b[d.pos] != '[' {
			return badRequest("data[%d]: expected a list of values, got %s", d.row, describeJSON(d.b, d.pos, d.valueEnd()))
		}
		d.pos++
		n := 0
		for {
			d.ws()
			if d.b[d.pos] == ']' && n == 0 {
				break
			}
			if n >= len(order) {
				return badRequest("data[%d]: more than %d values; expected one per column", d.row, len(order))
			}
			if err := d.value(order[n]); err != nil {
				return err
			}
			n++
			d.ws()
			if d.b[d.pos] == ',' {
				d.pos++
				continue
			}
			break
		}
		d.pos++ // ']'
		if n != len(order) {
			return badRequest("data[%d]: %d values; expected %d, one per column", d.row, n, len(order))
		}
		d.c.nrows++
		d.row++
		d.ws()
		if d.b[d.pos] == ',' {
			d.pos++
			continue
		}
		d.pos++ // ']'
		return nil
	}
}

// value decodes one JSON value into feature idx's column.
func (d *jsonDecoder) value(idx int) error {
	if d.pos >= len(d.b) {
		return d.syntax("expected a value")
	}
	k := d.in.kinds[idx]
	c := d.c
	ch := d.b[d.pos]
	switch {
	case ch == '-' || (ch >= '0' && ch <= '9'):
		if k.kind == kBool || k.kind == kString {
			break
		}
		tok, isInt, err := d.number()
		if err != nil {
			return err
		}
		switch k.kind {
		case kFloat:
			f, err := strconv.ParseFloat(unsafeString(tok), 64)
			if err != nil || (k.bits == 32 && math.Abs(f) > math.MaxFloat32) {
				return d.valueErr(idx, "number %s is out of range for %s", tok, k.dt)
			}
			c.f[idx] = append(c.f[idx], f)
		case kInt:
			v, err := parseInt(tok, isInt)
			lo, hi := intRange(k.bits)
			if err != nil || v < lo || v > hi {
				if err == errNotIntegral {
					return d.valueErr(idx, "expected %s, got %s", k.describe(), tok)
				}
				return d.valueErr(idx, "number %s is out of range for %s", tok, k.dt)
			}
			c.i[idx] = append(c.i[idx], v)
		case kUint:
			v, err := parseUint(tok, isInt)
			if err != nil || v > uintMax(k.bits) {
				if err == errNotIntegral {
					return d.valueErr(idx, "expected %s, got %s", k.describe(), tok)
				}
				return d.valueErr(idx, "number %s is out of range for %s", tok, k.dt)
			}
			c.u[idx] = append(c.u[idx], v)
		}
		return nil
	case ch == 't' && k.kind == kBool:
		if err := d.literal("true"); err != nil {
			return err
		}
		c.b[idx] = append(c.b[idx], true)
		return nil
	case ch == 'f' && k.kind == kBool:
		if err := d.literal("false"); err != nil {
			return err
		}
		c.b[idx] = append(c.b[idx], false)
		return nil
	case ch == '"' && k.kind == kString:
		s, _, err := d.str()
		if err != nil {
			return err
		}
		c.s[idx] = append(c.s[idx], strings.ToValidUTF8(string(s), "\uFFFD"))
		return nil
	case ch == 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
		return d.valueErr(idx, "null; a value is required")
	}
	start := d.pos
	if err := d.skipValue(1); err != nil {
		return err
	}
	return d.valueErr(idx, "expected %s, got %s", k.describe(), describeJSON(d.b, start, d.pos))
}

func (d *jsonDecoder) valueErr(idx int, format string, args ...any) error {
	return badRequest("row %d: feature %q: %s", d.row, d.in.Features[idx].Name, fmt.Sprintf(format, args...))
}

var errNotIntegral = fmt.Errorf("not an integer")

func parseInt(tok []byte, isInt bool) (int64, error) {
	if isInt {
		return strconv.ParseInt(unsafeString(tok), 10, 64)
	}
	f, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, errNotIntegral
	}
	if f < -(1<<63) || f >= 1<<63 {
		return 0, strconv.ErrRange
	}
	return int64(f), nil
}

func parseUint(tok []byte, isInt bool) (uint64, error) {
	if len(tok) > 0 && tok[0] == '-' {
		v, err := parseInt(tok, isInt)
		if err == nil && v == 0 {
			return 0, nil
		}
		if err == errNotIntegral {
			return 0, err
		}
		return 0, strconv.ErrRange
	}
	if isInt {
		return strconv.ParseUint(unsafeString(tok), 10, 64)
	}
	f, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, errNotIntegral
	}
	if f >= 1<<64 {
		return 0, strconv.ErrRange
	}
	return uint64(f), nil
}

// number scans a JSON number and returns its text; isInt is false when
// it has a fraction or exponent.
func (d *jsonDecoder) number() (tok []byte, isInt bool, err error) {
	b, start := d.b, d.pos
	p := d.pos
	if p < len(b) && b[p] == '-' {
		p++
	}
	switch {
	case p < len(b) && b[p] == '0':
		p++
	case p < len(b) && b[p] >= '1' && b[p] <= '9':
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
	default:
		d.pos = p
		return nil, false, d.syntax("invalid number")
	}
	isInt = true
	if p < len(b) && b[p] == '.' {
		isInt = false
		p++
		if p >= len(b) || b[p] < '0' || b[p] > '9' {
			d.pos = p
			return nil, false, d.syntax("invalid number: digits expected after '.'")
		}
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		isInt = false
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if p >= len(b) || b[p] < '0' || b[p] > '9' {
			d.pos = p
			return nil, false, d.syntax("invalid number: digits expected in exponent")
		}
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
	}
	d.pos = p
	return b[start:p], isInt, nil
}

func (d *jsonDecoder) literal(lit string) error {
	if !bytes.HasPrefix(d.b[d.pos:], []byte(lit)) {
		return d.syntax("invalid literal")
	}
	d.pos += len(lit)
	return nil
}

// str scans a JSON string at d.pos ('"'). It returns the unescaped
// contents (a sub-slice of the input when esc is false).
func (d *jsonDecoder) str() (s []byte, esc bool, err error) {
	b := d.b
	p := d.pos + 1
	start := p
	for {
		if p >= len(b) {
			d.pos = p
			return nil, false, d.syntax("unterminated string")
		}
		ch := b[p]
		if ch == '"' {
			d.pos = p + 1
			return b[start:p], false, nil
		}
		if ch == '\\' {
			break
		}
		if ch < 0x20 {
			d.pos = p
			return nil, false, d.syntax("control character in string")
		}
		p++
	}
	// Slow path: unescape.
	out := append([]byte(nil), b[start:p]...)
	for {
		if p >= len(b) {
			d.pos = p
			return nil, false, d.syntax("unterminated string")
		}
		ch := b[p]
		switch {
		case ch == '"':
			d.pos = p + 1
			return out, true, nil
		case ch < 0x20:
			d.pos = p
			return nil, false, d.syntax("control character in string")
		case ch != '\\':
			out = append(out, ch)
			p++
			continue
		}
		p++
		if p >= len(b) {
			d.pos = p
			return nil, false, d.syntax("unterminated string")
		}
		switch b[p] {
		case '"', '\\', '/':
			out = append(out, b[p])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, p+1)
			if !ok {
				d.pos = p
				return nil, false, d.syntax("invalid \\u escape")
			}
			p += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(b, p+3); ok && p+2 < len(b) && b[p+1] == '\\' && b[p+2] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						p += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			d.pos = p
			return nil, false, d.syntax("invalid escape in string")
		}
		p++
	}
}

func hex4(b []byte, p int) (rune, bool) {
	if p+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skipValue checks and skips one JSON value.
func (d *jsonDecoder) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return d.syntax("nested too deeply")
	}
	d.ws()
	if d.pos >= len(d.b) {
		return d.syntax("expected a value")
	}
	switch ch := d.b[d.pos]; {
	case ch == '"':
		_, _, err := d.str()
		return err
	case ch == '-' || (ch >= '0' && ch <= '9'):
		_, _, err := d.number()
		return err
	case ch == 't':
		return d.literal("true")
	case ch == 'f':
		return d.literal("false")
	case ch == 'n':
		return d.literal("null")
	case ch == '[' || ch == '{':
		closing := byte(']')
		if ch == '{' {
			closing = '}'
		}
		d.pos++
		d.ws()
		if d.pos < len(d.b) && d.b[d.pos] == closing {
			d.pos++
			return nil
		}
		for {
			if ch == '{' {
				d.ws()
				if d.pos >= len(d.b) || d.b[d.pos] != '"' {
					return d.syntax("expected a key in double quotes")
				}
				if _, _, err := d.str(); err != nil {
					return err
				}
				if err := d.expect(':', "':' after a key"); err != nil {
					return err
				}
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.pos >= len(d.b) {
				return d.syntax("unterminated " + map[bool]string{true: "object", false: "list"}[ch == '{'])
			}
			if d.b[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.b[d.pos] != closing {
				return d.syntax("expected ',' or '" + string(closing) + "'")
			}
			d.pos++
			return nil
		}
	}
	return d.syntax("expected a JSON value")
}

// valueEnd is where the (well-formed) value at d.pos ends.
func (d *jsonDecoder) valueEnd() int {
	e := jsonDecoder{b: d.b, pos: d.pos}
	_ = e.skipValue(1)
	return e.pos
}

// describeJSON names the kind of the (well-formed) value at p, with a
// short excerpt.
func describeJSON(b []byte, p, end int) string {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	if p >= len(b) {
		return "nothing"
	}
	kind := "a number"
	switch b[p] {
	case '"':
		kind = "a string"
	case '{':
		kind = "an object"
	case '[':
		kind = "a list"
	case 't', 'f':
		kind = "a boolean"
	case 'n':
		return "null"
	}
	return kind + " " + excerpt(b[:max(end, p)], p)
}

// excerpt shows up to 24 bytes of the (well-formed) JSON value at p as the
// client wrote it: a string keeps its own quotes, quoted once; line breaks
// and tabs between tokens become spaces.
func excerpt(b []byte, p int) string {
	end := min(p+24, len(b))
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b[p:end]), "\uFFFD"))
	if end < len(b) {
		s += "..."
		if b[p] == '"' {
			s += `"` // a cut string still reads as one
		}
	}
	return s
}

// snippet quotes up to 24 bytes of b from p, for malformed input, which
// may hold anything.
func snippet(b []byte, p int) string {
	end := min(p+24, len(b))
	s := string(b[p:end])
	if end < len(b) {
		s += "..."
	}
	return strconv.Quote(strings.ToValidUTF8(s, "\uFFFD"))
}

// featureList names the expected features, abbreviated.
func (in *InputSchema) featureList() string {
	const show = 8
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(len(in.Features)))
	sb.WriteString(" features: ")
	for i, f := range in.Features {
		if i == show {
			sb.WriteString(", ...")
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Quote(f.Name))
	}
	return sb.String()
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
