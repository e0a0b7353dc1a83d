package train

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/goray/goray/core"
)

// LoopFunc is a training loop: the code every worker of a
// DataParallelTrainer runs. A worker runs in its own process on a cluster,
// so a loop reaches a worker by its registered name (RegisterLoop), never
// as a func value: variables a LoopFunc captures are those of the worker's
// process, not the driver's. Everything a loop needs from the driver comes
// in config (DataParallelTrainer.Config, decoded anew on every worker),
// its datasets through tc.DatasetShard and its starting point through
// tc.Checkpoint.
type LoopFunc func(tc Context, config map[string]any) error

// Loop is a registered training loop, what DataParallelTrainer.TrainLoop
// holds. The zero Loop is no loop.
type Loop struct{ name string }

// Name is the name the loop was registered under.
func (l Loop) Name() string { return l.name }

var loops struct {
	sync.RWMutex
	byName map[string]LoopFunc
}

// RegisterLoop registers fn as the training loop called name and returns
// it as a Loop for DataParallelTrainer.TrainLoop. Call it at package
// initialisation (var myLoop = train.RegisterLoop("mypkg.myLoop", ...)), so
// that every process of the program, a worker's as much as the driver's,
// registers the same loops under the same names; a worker looks its loop up
// by name. Name loops after their package, as "gbdt.Trainer". An empty
// name, a nil fn or a name registered twice panics: they are programmer
// errors.
func RegisterLoop(name string, fn LoopFunc) Loop {
	if name == "" || fn == nil {
		panic(fmt.Sprintf("train: RegisterLoop(%q): needs a name and a func", name))
	}
	loops.Lock()
	defer loops.Unlock()
	if loops.byName == nil {
		loops.byName = map[string]LoopFunc{}
	}
	if _, dup := loops.byName[name]; dup {
		panic(fmt.Sprintf("train: training loop %q registered twice", name))
	}
	loops.byName[name] = fn
	return Loop{name: name}
}

func lookupLoop(name string) (LoopFunc, error) {
	loops.RLock()
	defer loops.RUnlock()
	fn := loops.byName[name]
	if fn == nil {
		return nil, fmt.Errorf("%w: no training loop is registered as %q in this process (train.RegisterLoop at package initialisation)", ErrInvalidConfig, name)
	}
	return fn, nil
}

// The values a loop config may hold, by the name their encoding carries:
// the basic Go types, slices of them and maps from string to them, plus
// []any and map[string]any of allowed values (nested), plus the types
// registered with RegisterConfigType (and slices of them).
var configTypes struct {
	sync.RWMutex
	byName map[string]reflect.Type
}

func init() {
	basics := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[string](),
		reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	}
	configTypes.byName = map[string]reflect.Type{}
	for _, t := range basics {
		for _, u := range []reflect.Type{t, reflect.SliceOf(t), reflect.MapOf(reflect.TypeFor[string](), t)} {
			configTypes.byName[configTypeName(u)] = u
		}
	}
}

// configTypeName names t the same way in every process: a named type by
// its package path and name.
func configTypeName(t reflect.Type) string {
	switch {
	case t.Name() != "" && t.PkgPath() != "":
		return t.PkgPath() + "." + t.Name()
	case t.Kind() == reflect.Pointer:
		return "*" + configTypeName(t.Elem())
	case t.Kind() == reflect.Slice && t.Name() == "":
		return "[]" + configTypeName(t.Elem())
	}
	return t.String()
}

// RegisterConfigType lets values of type T (and []T) travel in a
// DataParallelTrainer's Config to the workers, encoded by core's codec
// (CBOR for plain structs). Call it at package initialisation, like
// RegisterLoop, so that every process knows T by the same name. A type
// that cannot be encoded panics, naming the part that cannot; registering
// a type again does nothing.
func RegisterConfigType[T any]() {
	t := reflect.TypeFor[T]()
	if err := core.CheckEncodable(t); err != nil {
		panic(fmt.Sprintf("train: RegisterConfigType[%v]: %v", t, err))
	}
	configTypes.Lock()
	defer configTypes.Unlock()
	for _, u := range []reflect.Type{t, reflect.SliceOf(t)} {
		configTypes.byName[configTypeName(u)] = u
	}
}

func configTypeByName(name string) reflect.Type {
	configTypes.RLock()
	defer configTypes.RUnlock()
	return configTypes.byName[name]
}

// configValue is one value of a loop config on the wire: its type's name
// and its encoding, or the elements of a []any or map[string]any.
type configValue struct {
	Type string
	Data []byte                 `cbor:",omitempty"`
	List []configValue          `cbor:",omitempty"`
	Map  map[string]configValue `cbor:",omitempty"`
}

const (
	configNil  = "nil"
	configList = "[]any"
	configMap  = "map[string]any"
)

// encodeConfig encodes a loop config so that every worker decodes its own
// copy, holding values of the same Go types. The error names the key of a
// value that cannot travel.
func encodeConfig(config map[string]any) ([]byte, error) {
	if config == nil {
		return nil, nil
	}
	v, err := encodeConfigValue(config, "Config")
	if err != nil {
		return nil, err
	}
	return core.Encode(v)
}

func encodeConfigValue(x any, path string) (configValue, error) {
	switch x := x.(type) {
	case nil:
		return configValue{Type: configNil}, nil
	case []any:
		out := configValue{Type: configList, List: make([]configValue, len(x))}
		for i, e := range x {
			v, err := encodeConfigValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return configValue{}, err
			}
			out.List[i] = v
		}
		return out, nil
	case map[string]any:
		out := configValue{Type: configMap, Map: make(map[string]configValue, len(x))}
		for k, e := range x {
			v, err := encodeConfigValue(e, fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return configValue{}, err
			}
			out.Map[k] = v
		}
		return out, nil
	}
	t := reflect.TypeOf(x)
	name := configTypeName(t)
	if configTypeByName(name) != t {
		return configValue{}, fmt.Errorf("%w: DataParallelTrainer.%s is a %v, which cannot travel to the workers: a loop config holds bools, numbers, strings, slices and string-keyed maps of those, []any, map[string]any and types registered with train.RegisterConfigType",
			ErrInvalidConfig, path, t)
	}
	b, err := core.Encode(x)
	if err != nil {
		return configValue{}, fmt.Errorf("%w: DataParallelTrainer.%s: %w", ErrInvalidConfig, path, err)
	}
	return configValue{Type: name, Data: b}, nil
}

// decodeConfig decodes what encodeConfig wrote.
func decodeConfig(b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	v, err := core.DecodeAs[configValue](b)
	if err != nil {
		return nil, fmt.Errorf("train: decode the loop config: %w", err)
	}
	x, err := decodeConfigValue(v, "Config")
	if err != nil {
		return nil, err
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the loop config is a %T, not a map", core.ErrInvalidInput, x)
	}
	return m, nil
}

func decodeConfigValue(v configValue, path string) (any, error) {
	switch v.Type {
	case configNil:
		return nil, nil
	case configList:
		out := make([]any, len(v.List))
		for i, e := range v.List {
			x, err := decodeConfigValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case configMap:
		out := make(map[string]any, len(v.Map))
		for k, e := range v.Map {
			x, err := decodeConfigValue(e, fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	t := configTypeByName(v.Type)
	if t == nil {
		return nil, fmt.Errorf("%w: loop %s is a %s, a type this process has not registered (train.RegisterConfigType); registered: %s",
			core.ErrInvalidInput, path, v.Type, registeredConfigTypes())
	}
	x, err := core.Decode(v.Data, t)
	if err != nil {
		return nil, fmt.Errorf("loop %s: %w", path, err)
	}
	return x, nil
}

func registeredConfigTypes() string {
	configTypes.RLock()
	defer configTypes.RUnlock()
	var names []string
	for n, t := range configTypes.byName {
		if t.PkgPath() != "" || (t.Kind() == reflect.Slice && t.Elem().PkgPath() != "") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none beyond the basic types"
	}
	return strings.Join(names, ", ")
}
