package hotline

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
)

// sharedExampleModels keeps the example model trained for each taxonomy a
// process has built a Classifier for. Training is most of a Classifier's
// construction (about 40 ms; several times that under -race), the model is
// read-only once built, and it depends only on the built-in examples and
// the taxonomy; a service, a reload and the tests build many Classifiers of
// the same taxonomy. Bounded: past maxSharedExampleModels taxonomies, a
// model is trained for its Classifier alone.
var sharedExampleModels struct {
	sync.Mutex
	byTaxonomy map[[sha256.Size]byte]*exampleModel
}

const maxSharedExampleModels = 16

// builtinExampleModel is the built-in examples' model for t, trained once
// per distinct taxonomy content.
func builtinExampleModel(t *Taxonomy) *exampleModel {
	src, err := json.Marshal(t) // every exported field: whatever training reads
	if err != nil {
		return newExampleModel(builtinExampleSet(), t)
	}
	key := sha256.Sum256(src)
	sharedExampleModels.Lock()
	defer sharedExampleModels.Unlock()
	if m, ok := sharedExampleModels.byTaxonomy[key]; ok {
		return m
	}
	m := newExampleModel(builtinExampleSet(), t)
	if sharedExampleModels.byTaxonomy == nil {
		sharedExampleModels.byTaxonomy = map[[sha256.Size]byte]*exampleModel{}
	}
	if len(sharedExampleModels.byTaxonomy) < maxSharedExampleModels {
		sharedExampleModels.byTaxonomy[key] = m
	}
	return m
}
