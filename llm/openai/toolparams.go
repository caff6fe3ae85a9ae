package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	oai "github.com/openai/openai-go/v3"

	"github.com/cityagent/cityagent/llm"
)

// toolParams holds each tool's parameters in the form the request encodes
// fastest: the schema's top-level keys, each value already encoded. A turn
// offers the same tools call after call; decoding every schema into maps
// and encoding the maps again (sorted, recursively) was most of what this
// provider spent on a request. The bytes sent are the same as before: the
// values are encoded as the SDK encodes the decoded schema (sorted keys, no
// HTML escaping), and the top level is still a map, encoded with sorted keys.
type toolParams struct {
	mu     sync.RWMutex
	byJSON map[string]oai.FunctionParameters // by the schema's text
}

// maxCachedSchemas bounds the cache: the registry's tools and those of a
// few clients (client tools arrive with each request); when full it starts
// over.
const maxCachedSchemas = 256

// get returns t's parameters in wire form. The result is shared: callers
// never write to it.
func (c *toolParams) get(t llm.ToolSpec) (oai.FunctionParameters, error) {
	if len(t.Parameters) == 0 {
		return oai.FunctionParameters{"type": "object", "properties": map[string]any{}}, nil
	}
	c.mu.RLock()
	p, ok := c.byJSON[string(t.Parameters)]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := encodeParameters(t)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.byJSON == nil || len(c.byJSON) >= maxCachedSchemas {
		c.byJSON = make(map[string]oai.FunctionParameters)
	}
	c.byJSON[string(t.Parameters)] = p
	c.mu.Unlock()
	return p, nil
}

// encodeParameters decodes t's schema, as parameters does, and encodes
// each top-level value once.
func encodeParameters(t llm.ToolSpec) (oai.FunctionParameters, error) {
	decoded, err := parameters(t)
	if err != nil {
		return nil, err
	}
	out := make(oai.FunctionParameters, len(decoded))
	for k, v := range decoded {
		// openai-go's encoder leaves <, > and & as they are, so these
		// bytes must too.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("openai: tool %s: parameters: %w", t.Name, err)
		}
		out[k] = json.RawMessage(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	}
	return out, nil
}
