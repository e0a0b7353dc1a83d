package core

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"
)

// ErrNotEncodable: a value, or a registered function's argument or result
// type, cannot cross a process boundary. It wraps ErrInvalidInput.
var ErrNotEncodable = fmt.Errorf("%w: not encodable", ErrInvalidInput)

// Codec encodes values of one type when they cross a process boundary or
// spill to disk. Without a registered codec, []byte and string values go
// raw, protobuf messages as protobuf, Arrow records as Arrow IPC and every
// other type as CBOR, refused at registration and at Put when CBOR would
// lose part of it (funcs, channels, unexported fields, interfaces).
type Codec[T any] interface {
	Encode(w io.Writer, v T) error
	Decode(r io.Reader) (T, error)
}

// CodecKind names the way a type is encoded; it travels with an encoded
// value (corepb.Value.codec) so that a reader can check it.
type CodecKind uint8

// The codec kinds, in the order of the codec choice for a type.
const (
	CodecInvalid    CodecKind = iota // the type cannot be encoded
	CodecRegistered                  // a codec registered with RegisterCodec
	CodecRaw                         // []byte and string: the bytes themselves
	CodecProto                       // a proto.Message: protobuf wire format
	CodecArrow                       // an arrow.Record: one Arrow IPC stream
	CodecCBOR                        // everything else: CBOR (RFC 8949)
)

func (k CodecKind) String() string {
	switch k {
	case CodecRegistered:
		return "registered"
	case CodecRaw:
		return "raw"
	case CodecProto:
		return "protobuf"
	case CodecArrow:
		return "arrow-ipc"
	case CodecCBOR:
		return "cbor"
	}
	return "invalid"
}

// Decode limits for CBOR input, which may come from another process and so
// must be treated as hostile: deeper nesting, longer arrays or bigger maps
// are refused before anything is allocated. Byte and text strings cannot
// claim more bytes than the input holds (checked before allocation).
const (
	MaxDecodeNesting  = 64
	MaxDecodeElements = 1 << 28 // elements in one CBOR array
	MaxDecodeMapPairs = 1 << 24 // pairs in one CBOR map
)

var (
	cborEnc cbor.EncMode
	cborDec cbor.DecMode
)

func init() {
	var err error
	cborEnc, err = cbor.EncOptions{
		Time:          cbor.TimeRFC3339Nano, // the default (Unix seconds) drops sub-second time
		BigIntConvert: cbor.BigIntConvertShortest,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	cborDec, err = cbor.DecOptions{
		MaxNestedLevels:   MaxDecodeNesting,
		MaxArrayElements:  MaxDecodeElements,
		MaxMapPairs:       MaxDecodeMapPairs,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8DecodeInvalid, // Go strings may hold any bytes
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// typeCodec is how one Go type is encoded, chosen once and cached.
type typeCodec struct {
	kind CodecKind
	err  error // why the type cannot be encoded, for CodecInvalid
	enc  func(w io.Writer, v any) error
	dec  func(b []byte) (any, error)
}

type registeredCodec struct {
	typ reflect.Type
	enc func(io.Writer, any) error
	dec func(io.Reader) (any, error)
}

var codecs struct {
	sync.RWMutex
	list  []registeredCodec
	cache sync.Map // reflect.Type -> *typeCodec
}

// RegisterCodec makes c the codec for values of type T (an interface type
// covers every type that implements it). Call it at package init, before
// the type is registered in a function signature.
func RegisterCodec[T any](c Codec[T]) {
	codecs.Lock()
	defer codecs.Unlock()
	codecs.list = append(codecs.list, registeredCodec{
		typ: reflect.TypeFor[T](),
		enc: func(w io.Writer, v any) error { return c.Encode(w, v.(T)) },
		dec: func(r io.Reader) (any, error) { return c.Decode(r) },
	})
	codecs.cache.Clear()
}

func registeredFor(t reflect.Type) (registeredCodec, bool) {
	codecs.RLock()
	defer codecs.RUnlock()
	for _, c := range codecs.list {
		if c.typ == t {
			return c, true
		}
	}
	for _, c := range codecs.list {
		if c.typ.Kind() == reflect.Interface && t.Implements(c.typ) {
			return c, true
		}
	}
	return registeredCodec{}, false
}

var (
	bytesType       = reflect.TypeFor[[]byte]()
	protoType       = reflect.TypeFor[proto.Message]()
	arrowRecordType = reflect.TypeFor[arrow.Record]()
	timeType        = reflect.TypeFor[time.Time]()
	bigIntType      = reflect.TypeFor[big.Int]()
	cborMarshaler   = reflect.TypeFor[cbor.Marshaler]()
	cborUnmarshaler = reflect.TypeFor[cbor.Unmarshaler]()
	binMarshaler    = reflect.TypeFor[encoding.BinaryMarshaler]()
	binUnmarshaler  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// codecOf returns the cached codec of t.
func codecOf(t reflect.Type) *typeCodec {
	if c, ok := codecs.cache.Load(t); ok {
		return c.(*typeCodec)
	}
	c := buildCodec(t)
	codecs.cache.Store(t, c)
	return c
}

func buildCodec(t reflect.Type) *typeCodec {
	if t == nil {
		return &typeCodec{kind: CodecInvalid, err: fmt.Errorf("%w: a nil interface value has no type", ErrNotEncodable)}
	}
	if rc, ok := registeredFor(t); ok {
		return &typeCodec{kind: CodecRegistered, enc: rc.enc, dec: func(b []byte) (any, error) {
			return rc.dec(bytes.NewReader(b))
		}}
	}
	switch {
	case t.Kind() == reflect.String:
		return &typeCodec{kind: CodecRaw,
			enc: func(w io.Writer, v any) error {
				_, err := io.WriteString(w, reflect.ValueOf(v).String())
				return err
			},
			dec: func(b []byte) (any, error) {
				return reflect.ValueOf(string(b)).Convert(t).Interface(), nil
			}}
	case t.Kind() == reflect.Slice && t.Elem() == bytesType.Elem():
		return &typeCodec{kind: CodecRaw,
			enc: func(w io.Writer, v any) error {
				_, err := w.Write(reflect.ValueOf(v).Bytes())
				return err
			},
			dec: func(b []byte) (any, error) {
				return reflect.ValueOf(bytes.Clone(b)).Convert(t).Interface(), nil
			}}
	case t.Implements(protoType) && t.Kind() == reflect.Pointer:
		return &typeCodec{kind: CodecProto,
			enc: func(w io.Writer, v any) error {
				b, err := proto.Marshal(v.(proto.Message))
				if err != nil {
					return err
				}
				_, err = w.Write(b)
				return err
			},
			dec: func(b []byte) (any, error) {
				m := reflect.New(t.Elem()).Interface().(proto.Message)
				if err := proto.Unmarshal(b, m); err != nil {
					return nil, err
				}
				return m, nil
			}}
	case t.Implements(arrowRecordType):
		return &typeCodec{kind: CodecArrow, enc: encodeArrow, dec: func(b []byte) (any, error) {
			rec, err := decodeArrow(b)
			if err == nil && !reflect.TypeOf(rec).AssignableTo(t) {
				rec.(arrow.Record).Release()
				return nil, fmt.Errorf("arrow IPC decodes to %T, not %v", rec, t)
			}
			return rec, err
		}}
	}
	if err := CheckEncodable(t); err != nil {
		return &typeCodec{kind: CodecInvalid, err: err}
	}
	return &typeCodec{kind: CodecCBOR,
		enc: func(w io.Writer, v any) error { return cborEnc.NewEncoder(w).Encode(v) },
		dec: func(b []byte) (any, error) {
			p := reflect.New(t)
			if err := cborDec.Unmarshal(b, p.Interface()); err != nil {
				return nil, err
			}
			return p.Elem().Interface(), nil
		}}
}

func encodeArrow(w io.Writer, v any) error {
	rec := v.(arrow.Record)
	iw := ipc.NewWriter(w, ipc.WithSchema(rec.Schema()))
	if err := iw.Write(rec); err != nil {
		iw.Close()
		return err
	}
	return iw.Close()
}

func decodeArrow(b []byte) (any, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("arrow IPC stream holds no record")
	}
	rec := r.Record()
	rec.Retain()
	if r.Next() {
		rec.Release()
		return nil, errors.New("arrow IPC stream holds more than one record")
	}
	return rec, nil
}

// CodecFor reports how values of type t are encoded, or why they cannot be.
func CodecFor(t reflect.Type) (CodecKind, error) {
	c := codecOf(t)
	return c.kind, c.err
}

// EncodeTo writes v to w with the codec of v's dynamic type.
func EncodeTo(w io.Writer, v any) error {
	c := codecOf(reflect.TypeOf(v))
	if c.err != nil {
		return c.err
	}
	if err := c.enc(w, v); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrNotEncodable, v, err)
	}
	return nil
}

// Encode returns v encoded with the codec of its dynamic type.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := EncodeTo(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode decodes b, written by Encode for a value of type t. Bad input is
// an error wrapping ErrInvalidInput, never a panic or a zero value.
func Decode(b []byte, t reflect.Type) (any, error) {
	c := codecOf(t)
	if c.err != nil {
		return nil, c.err
	}
	v, err := c.dec(b)
	if err != nil {
		return nil, fmt.Errorf("%w: decode %v (%v, %d bytes): %w", ErrInvalidInput, t, c.kind, len(b), err)
	}
	return v, nil
}

// DecodeAs is Decode for a type known at compile time.
func DecodeAs[T any](b []byte) (T, error) {
	var zero T
	v, err := Decode(b, reflect.TypeFor[T]())
	if err != nil || v == nil {
		return zero, err
	}
	return v.(T), nil
}

// CheckEncodable reports whether values of type t can cross a process
// boundary without losing anything. The error names the path to the part
// that cannot, e.g. "main.Config.callback: func cannot be encoded".
// A registered codec covers a type as a whole value; proto.Message,
// arrow.Record, encoding.BinaryMarshaler (with BinaryUnmarshaler) and
// cbor.Marshaler (with cbor.Unmarshaler) also cover it inside other values;
// so Refs and actor handles, which encode as their wire form, are
// accepted anywhere.
// Struct fields tagged `cbor:"-"` are left out on purpose and not checked.
func CheckEncodable(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: a nil interface value has no type", ErrNotEncodable)
	}
	ck := checker{seen: map[reflect.Type]bool{}}
	if msg := ck.check(t); msg != "" {
		return fmt.Errorf("%w: %s", ErrNotEncodable, msg)
	}
	return nil
}

type checker struct {
	seen map[reflect.Type]bool
	path []string
}

func (c *checker) fail(format string, args ...any) string {
	return strings.Join(c.path, "") + ": " + fmt.Sprintf(format, args...)
}

func (c *checker) push(s string) { c.path = append(c.path, s) }
func (c *checker) pop()          { c.path = c.path[:len(c.path)-1] }

// selfCoded reports whether t is encoded by code of its own (or ours).
func selfCoded(t reflect.Type) bool {
	if t == timeType || t == bigIntType || t.Implements(arrowRecordType) {
		return true
	}
	if t.Kind() == reflect.Pointer && t.Implements(protoType) {
		return true
	}
	pt := reflect.PointerTo(t)
	if t.Kind() == reflect.Pointer {
		pt = t
	}
	if (t.Implements(cborMarshaler) || pt.Implements(cborMarshaler)) && pt.Implements(cborUnmarshaler) {
		return true
	}
	if (t.Implements(binMarshaler) || pt.Implements(binMarshaler)) && pt.Implements(binUnmarshaler) {
		return true
	}
	return false
}

// check returns "" when t is encodable, else the message naming its path.
func (c *checker) check(t reflect.Type) string {
	if len(c.path) == 0 {
		c.push(t.String())
		defer c.pop()
	}
	if c.seen[t] {
		return "" // recursive type: checked (or being checked) further up
	}
	c.seen[t] = true
	if selfCoded(t) {
		return ""
	}
	if _, ok := registeredFor(t); ok {
		if len(c.path) == 1 {
			return "" // the registered codec encodes the whole value
		}
		// CBOR cannot call a registered codec for a part of a value.
		return c.fail("%v has a registered codec, which covers it only as a whole value; inside another value it needs MarshalBinary and UnmarshalBinary methods", t)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return ""
	case reflect.Func:
		return c.fail("func cannot be encoded")
	case reflect.Chan:
		return c.fail("chan cannot be encoded")
	case reflect.UnsafePointer:
		return c.fail("unsafe.Pointer cannot be encoded")
	case reflect.Uintptr:
		return c.fail("uintptr cannot be encoded")
	case reflect.Complex64, reflect.Complex128:
		return c.fail("%v cannot be encoded (CBOR has no complex numbers; register a codec)", t)
	case reflect.Interface:
		return c.fail("interface type %v cannot be encoded: its dynamic type is lost on the way (register a codec for it)", t)
	case reflect.Pointer:
		return c.check(t.Elem())
	case reflect.Slice, reflect.Array:
		c.push("[]")
		defer c.pop()
		return c.check(t.Elem())
	case reflect.Map:
		k := t.Key()
		switch k.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.String:
		default:
			if !selfCoded(k) || k.Kind() == reflect.Struct || k.Kind() == reflect.Pointer {
				return c.fail("map key type %v cannot be encoded (keys must be strings, integers or bools)", k)
			}
		}
		c.push("[value]")
		defer c.pop()
		return c.check(t.Elem())
	case reflect.Struct:
		return c.checkStruct(t)
	}
	return c.fail("%v cannot be encoded", t)
}

func (c *checker) checkStruct(t reflect.Type) string {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" || f.Tag.Get("cbor") == "-" {
			continue
		}
		ft := f.Type
		if f.Anonymous {
			// An embedded struct of an unexported type still has its
			// exported fields promoted and encoded.
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && !f.IsExported() {
				if ft.Kind() == reflect.Pointer {
					return c.fail("embedded pointer to unexported struct %v cannot be decoded (embed the struct itself or register a codec for %v)", et, t)
				}
				if msg := c.checkStruct(et); msg != "" {
					return msg
				}
				continue
			}
		}
		c.push("." + f.Name)
		if !f.IsExported() {
			msg := c.fail("unexported field cannot be encoded (export it, tag it `cbor:\"-\"` to leave it out, or register a codec for %v)", t)
			c.pop()
			return msg
		}
		msg := c.check(ft)
		c.pop()
		if msg != "" {
			return msg
		}
	}
	return ""
}

// checkValue reports whether a value of static type T (or dynamic type, for
// interfaces) may be stored: what a cluster could not copy is refused at
// once rather than lost when it spills or moves.
func checkValue(st reflect.Type, v any) error {
	t := st
	if t == nil || t.Kind() == reflect.Interface {
		t = reflect.TypeOf(v)
		if t == nil {
			return nil // a nil interface: stored as nil
		}
	}
	return codecOf(t).err
}

// encodeValue and decodeValue are the store's spill path.
func encodeValue(w io.Writer, v any) error { return EncodeTo(w, v) }

func decodeValue(r io.Reader, t reflect.Type) (any, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return Decode(b, t)
}
