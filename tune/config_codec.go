package tune

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/goray/goray/core"
)

// A Config crosses processes (a trial's spec, on its way to the trial's
// actor) in an exact form: every value keeps its Go type. The types that
// can cross are nil, bool, string, the integer and float types, []any,
// map[string]any, Config, and slices and string-keyed maps of the basic
// types ([]string, []float64, map[string]int, ...). Anything else (a
// struct, a func, a pointer) makes MarshalBinary fail naming its key: such
// a config works only while its trials run in the process that made it.

// configValue is one value of a Config in its wire form.
type configValue struct {
	Type  string                 `cbor:"t"`
	Bool  bool                   `cbor:"b,omitempty"`
	Int   int64                  `cbor:"i,omitempty"`
	Uint  uint64                 `cbor:"u,omitempty"`
	Float float64                `cbor:"f,omitempty"`
	Str   string                 `cbor:"s,omitempty"`
	List  []configValue          `cbor:"l,omitempty"`
	Map   map[string]configValue `cbor:"m,omitempty"`
}

// configTypes are the types a config value may have beyond []any,
// map[string]any and Config, by the name the wire form gives them.
var configTypes = func() map[string]reflect.Type {
	basic := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[string](),
		reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	}
	m := map[string]reflect.Type{}
	for _, t := range basic {
		m[t.String()] = t
		for _, c := range []reflect.Type{reflect.SliceOf(t), reflect.MapOf(reflect.TypeFor[string](), t)} {
			m[c.String()] = c
		}
	}
	return m
}()

// MarshalBinary encodes the config for another process; a value of a type
// that cannot cross (see the package documentation) is an error wrapping
// core.ErrNotEncodable that names its key.
func (c Config) MarshalBinary() ([]byte, error) {
	v, err := encodeConfigValue(map[string]any(c), "")
	if err != nil {
		return nil, err
	}
	if c == nil {
		v = configValue{Type: "nil"}
	}
	return core.Encode(v)
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (c *Config) UnmarshalBinary(b []byte) error {
	v, err := core.DecodeAs[configValue](b)
	if err != nil {
		return err
	}
	if v.Type == "nil" {
		*c = nil
		return nil
	}
	if v.Type != "map[string]interface {}" {
		return fmt.Errorf("%w: a config is a map, not %s", core.ErrInvalidInput, v.Type)
	}
	x, err := decodeConfigValue(v, 0)
	if err != nil {
		return err
	}
	*c = Config(x.(map[string]any))
	return nil
}

func encodeConfigValue(v any, path string) (configValue, error) {
	switch x := v.(type) {
	case nil:
		return configValue{Type: "nil"}, nil
	case Config:
		out, err := encodeConfigValue(map[string]any(x), path)
		out.Type = "tune.Config"
		return out, err
	case map[string]any:
		out := configValue{Type: "map[string]interface {}", Map: make(map[string]configValue, len(x))}
		for k, e := range x {
			ev, err := encodeConfigValue(e, joinPath(path, k))
			if err != nil {
				return configValue{}, err
			}
			out.Map[k] = ev
		}
		return out, nil
	case []any:
		out := configValue{Type: "[]interface {}", List: make([]configValue, len(x))}
		for i, e := range x {
			ev, err := encodeConfigValue(e, joinPath(path, strconv.Itoa(i)))
			if err != nil {
				return configValue{}, err
			}
			out.List[i] = ev
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	if configTypes[t.String()] != t {
		return configValue{}, fmt.Errorf("%w: config %q is a %v, which cannot cross processes (use numbers, strings, bools, []any, map[string]any and slices or maps of those)",
			core.ErrNotEncodable, path, t)
	}
	out := configValue{Type: t.String()}
	switch t.Kind() {
	case reflect.Slice:
		out.List = make([]configValue, rv.Len())
		for i := range rv.Len() {
			out.List[i] = encodeBasic(rv.Index(i))
		}
	case reflect.Map:
		out.Map = make(map[string]configValue, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out.Map[it.Key().String()] = encodeBasic(it.Value())
		}
	default:
		out = encodeBasic(rv)
	}
	return out, nil
}

// encodeBasic encodes a value of one of the basic config types.
func encodeBasic(rv reflect.Value) configValue {
	out := configValue{Type: rv.Type().String()}
	switch rv.Kind() {
	case reflect.Bool:
		out.Bool = rv.Bool()
	case reflect.String:
		out.Str = rv.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out.Int = rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out.Uint = rv.Uint()
	case reflect.Float32, reflect.Float64:
		out.Float = rv.Float()
	}
	return out
}

func decodeConfigValue(v configValue, depth int) (any, error) {
	if depth > core.MaxDecodeNesting {
		return nil, fmt.Errorf("%w: config nested more than %d deep", core.ErrInvalidInput, core.MaxDecodeNesting)
	}
	switch v.Type {
	case "nil":
		return nil, nil
	case "map[string]interface {}", "tune.Config":
		m := make(map[string]any, len(v.Map))
		for k, e := range v.Map {
			x, err := decodeConfigValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		if v.Type == "tune.Config" {
			return Config(m), nil
		}
		return m, nil
	case "[]interface {}":
		s := make([]any, len(v.List))
		for i, e := range v.List {
			x, err := decodeConfigValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = x
		}
		return s, nil
	}
	t := configTypes[v.Type]
	if t == nil {
		return nil, fmt.Errorf("%w: config value of unknown type %q", core.ErrInvalidInput, v.Type)
	}
	switch t.Kind() {
	case reflect.Slice:
		s := reflect.MakeSlice(t, len(v.List), len(v.List))
		for i, e := range v.List {
			if err := decodeBasic(s.Index(i), e); err != nil {
				return nil, err
			}
		}
		return s.Interface(), nil
	case reflect.Map:
		m := reflect.MakeMapWithSize(t, len(v.Map))
		for k, e := range v.Map {
			ev := reflect.New(t.Elem()).Elem()
			if err := decodeBasic(ev, e); err != nil {
				return nil, err
			}
			m.SetMapIndex(reflect.ValueOf(k), ev)
		}
		return m.Interface(), nil
	}
	out := reflect.New(t).Elem()
	if err := decodeBasic(out, v); err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

// decodeBasic sets dst, of a basic config type, from v.
func decodeBasic(dst reflect.Value, v configValue) error {
	if v.Type != dst.Type().String() {
		return fmt.Errorf("%w: config value of type %q where %v belongs", core.ErrInvalidInput, v.Type, dst.Type())
	}
	switch dst.Kind() {
	case reflect.Bool:
		dst.SetBool(v.Bool)
	case reflect.String:
		dst.SetString(v.Str)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if dst.OverflowInt(v.Int) {
			return fmt.Errorf("%w: config value %d overflows %v", core.ErrInvalidInput, v.Int, dst.Type())
		}
		dst.SetInt(v.Int)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if dst.OverflowUint(v.Uint) {
			return fmt.Errorf("%w: config value %d overflows %v", core.ErrInvalidInput, v.Uint, dst.Type())
		}
		dst.SetUint(v.Uint)
	case reflect.Float32, reflect.Float64:
		dst.SetFloat(v.Float)
	}
	return nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "/" + k
}
