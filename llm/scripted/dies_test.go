package scripted

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func TestDies(t *testing.T) {
	boom := errors.New("connection lost")
	var got strings.Builder
	_, err := Dies("d", "half an ans", boom).Generate(context.Background(), llm.Request{}, func(_ context.Context, s string) error {
		got.WriteString(s)
		return nil
	})
	if !errors.Is(err, boom) || got.String() != "half an ans" {
		t.Fatalf("streamed %q, err %v", got.String(), err)
	}
}
