package scripted

import (
	"context"

	"github.com/cityagent/cityagent/llm"
)

// Dies returns a model that streams text (when streaming) and then fails
// with err on every call, like a model whose connection drops mid-answer.
func Dies(name, text string, err error) llm.Model { return dying{name, text, err} }

type dying struct {
	name, text string
	err        error
}

var _ llm.Model = dying{}

func (d dying) Name() string { return d.name }

func (d dying) Generate(ctx context.Context, _ llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	if stream != nil {
		if err := streamText(ctx, stream, d.text); err != nil {
			return llm.Response{}, err
		}
	}
	return llm.Response{}, d.err
}
