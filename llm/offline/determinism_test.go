package offline

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

// The same input must give the same output: every agent's recorded request,
// and first steps of questions whose arguments once varied between runs
// (50 kW or 3000 kW), run 100 times on one shared engine from concurrent
// goroutines under several GOMAXPROCS. Run it with -race.
func TestDeterministicAnswers(t *testing.T) {
	firsts := map[string][]string{
		// The first two gave 3000 kW in some runs and 50 kW in others
		// before scores were summed in a fixed order.
		"energy": {"启动一个日前响应，高新区削减3000千瓦，持续2小时", "高新区明天启动一个日前需求响应，削减负荷3000千瓦，持续两小时",
			"在高新区启动一个日前响应，削减三千千瓦。", "最近一周高新区的峰值负荷？"},
		"traffic": {"The most congested corridor is jammed — propose a retiming.", "现在最堵的十个路段是哪些？"},
		"permits": {"东城区被驳回的许可申请有多少？", "What was the average permit processing time over the past six months?"},
		"hotline": {"把这个路灯不亮的工单派给城管局处理。"},
		"city":    {"那这个区今天的用电峰值呢？"},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for agent, questions := range firsts {
		recorded := agentRequest(t, agent)
		reqs := []llm.Request{recorded}
		for _, q := range questions {
			reqs = append(reqs, firstStep(recorded, "南湖区现在有多少在办的许可？", q))
		}
		for i, req := range reqs {
			want := render(t, New(), req)
			for _, procs := range []int{1, 2, 4, 8} {
				runtime.GOMAXPROCS(procs)
				e := New()
				got := make([]string, 100)
				var wg sync.WaitGroup
				for k := range got {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got[k] = render(t, e, req)
					}()
				}
				wg.Wait()
				for k, g := range got {
					if g != want {
						t.Fatalf("%s request %d, GOMAXPROCS=%d, run %d differs:\n%s\nwant\n%s", agent, i, procs, k, g, want)
					}
				}
			}
		}
	}
}

// render is a response as comparable text: tool calls with their arguments, or the answer.
func render(t *testing.T, e *Engine, req llm.Request) string {
	resp, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Error(err)
		return ""
	}
	raw, err := json.Marshal(struct {
		Calls   []llm.ToolCall
		Content string
	}{resp.ToolCalls, resp.Content})
	if err != nil {
		t.Error(err)
	}
	return string(raw)
}
