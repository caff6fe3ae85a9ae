package offline

import (
	"context"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func BenchmarkPlan(b *testing.B) {
	req := llm.Request{Messages: []llm.Message{system(), user("朝阳区前三条最堵的路和用电量")}, Tools: cityTools()}
	e := New()
	for b.Loop() {
		if _, err := e.Generate(context.Background(), req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnswer(b *testing.B) {
	req := llm.Request{Messages: congestionTurn("Which roads are most congested in Dongcheng?"), Tools: cityTools()}
	e := New()
	for b.Loop() {
		if _, err := e.Generate(context.Background(), req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
