package train

import (
	"fmt"
	"sort"
	"sync"

	"github.com/goray/goray/checkpoint"
)

var factories struct {
	sync.RWMutex
	byFramework map[string]PredictorFactory
}

// RegisterPredictorFactory makes f the predictor for checkpoints whose
// metadata names framework; a second registration of one framework panics. Model packages (gbdt, nn) register at init, so
// tools such as `goray predict` can load any checkpoint.
func RegisterPredictorFactory(framework string, f PredictorFactory) {
	factories.Lock()
	defer factories.Unlock()
	if factories.byFramework == nil {
		factories.byFramework = map[string]PredictorFactory{}
	}
	if _, dup := factories.byFramework[framework]; dup {
		panic(fmt.Sprintf("train: predictor factory for framework %q registered twice", framework))
	}
	factories.byFramework[framework] = f
}

// PredictorFor builds the registered predictor for ckpt's framework.
func PredictorFor(ckpt *checkpoint.Checkpoint) (Predictor, error) {
	f, err := FactoryFor(ckpt)
	if err != nil {
		return nil, err
	}
	return f(ckpt)
}

// FactoryFor returns the registered factory for ckpt's framework.
func FactoryFor(ckpt *checkpoint.Checkpoint) (PredictorFactory, error) {
	fw := ckpt.Metadata().Framework
	factories.RLock()
	f := factories.byFramework[fw]
	known := make([]string, 0, len(factories.byFramework))
	for k := range factories.byFramework {
		known = append(known, k)
	}
	factories.RUnlock()
	if f == nil {
		sort.Strings(known)
		return nil, fmt.Errorf("%w: checkpoint %s is framework %q; predictors are registered for %v", checkpoint.ErrWrongFramework, ckpt.Path(), fw, known)
	}
	return f, nil
}

// Frameworks lists the frameworks with a registered predictor factory,
// sorted.
func Frameworks() []string {
	factories.RLock()
	known := make([]string, 0, len(factories.byFramework))
	for k := range factories.byFramework {
		known = append(known, k)
	}
	factories.RUnlock()
	sort.Strings(known)
	return known
}

// FactoryForFramework returns the factory registered for framework, or nil.
func FactoryForFramework(framework string) PredictorFactory {
	factories.RLock()
	defer factories.RUnlock()
	return factories.byFramework[framework]
}
