package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources"
)

var toolsCST = time.FixedZone("CST", 8*60*60)

// toolsCityRunner is the built-in agents on the offline engine over the demo
// city at a pinned time, wired as build() wires them.
func toolsCityRunner(t *testing.T, at time.Time) (*agents.Runner, *democity.City) {
	t.Helper()
	ctx := context.Background()
	clock := func() time.Time { return at }
	city := democity.New(democity.DefaultSeed, clock)
	ts, err := sources.Tools(ctx, config.SourcesConfig{}, sources.Deps{City: city, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := agents.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	off := offline.New()
	return &agents.Runner{Catalog: catalog, Tools: reg, Knowledge: kb, Sessions: db,
		Models: agents.Models{ByName: map[string]llm.Model{"offline": off}, Default: "offline", Offline: off}}, city
}

// toolsAsk runs one turn as an operator with internal clearance and checks what
// every city answer needs: a successful tool call cited with its source and
// the pinned as-of time, the question's language, no degradation.
func toolsAsk(t *testing.T, r *agents.Runner, agent, question, source string, at time.Time) agents.ChatResult {
	t.Helper()
	res, err := r.Run(context.Background(), agents.Turn{Agent: agent, Message: question,
		Principal: access.Principal{KeyID: "key_test", Name: "test", Role: access.RoleOperator, Clearance: access.Internal}}, nil)
	if err != nil {
		t.Fatalf("%s: %q: %v", agent, question, err)
	}
	cited := false
	for _, c := range res.Citations {
		if c.Kind == "tool" && c.Source == source && c.AsOf != nil && c.AsOf.Equal(at) {
			cited = true
		}
	}
	if !cited || res.Degraded || !strings.Contains(res.Answer, "[1]") {
		t.Fatalf("%s: %q: no cited %s result (degraded %v):\n%s\n%+v", agent, question, source, res.Degraded, res.Answer, res.Citations)
	}
	if zh := hasHan(question); zh != toolsMostlyChinese(strings.SplitN(res.Answer, "\n", 2)[0]) {
		t.Errorf("%q answered in the other language: %s", question, res.Answer)
	}
	return res
}

// toolsMostlyChinese reports whether s has more Han characters than Latin letters
// (English answers may quote a bilingual name).
func toolsMostlyChinese(s string) bool {
	han, latin := 0, 0
	for _, r := range s {
		switch {
		case r >= 0x4e00 && r <= 0x9fff:
			han++
		case r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			latin++
		}
	}
	return han > latin
}

// toolsContains fails unless the answer holds every fact.
func toolsContains(t *testing.T, res agents.ChatResult, facts ...string) {
	t.Helper()
	for _, f := range facts {
		if !strings.Contains(res.Answer, f) {
			t.Errorf("answer lacks %q:\n%s", f, res.Answer)
		}
	}
}

// toolsKW formats kW and kWh as the energy tools do.
func toolsKW(x float64) string {
	if math.Abs(x) < 1000 {
		return fmt.Sprintf("%.1f", x)
	}
	s := fmt.Sprint(int64(math.Round(x)))
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestTrafficAgentAnswers(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 3, 8, 15, 0, 0, toolsCST)
	r, city := toolsCityRunner(t, at)
	top := city.Congestion(at, "", 1)[0]
	seg, _ := city.Segment(top.SegmentID)
	for _, q := range []string{"Which road segments are the most congested right now, and why?", "现在哪些路段最拥堵？原因是什么？"} {
		res := toolsAsk(t, r, "traffic", q, democity.SourceName, at)
		if hasHan(q) {
			toolsContains(t, res, seg.NameZh, fmt.Sprintf("拥堵指数%.2f", top.CongestionIndex), fmt.Sprintf("车速%.1f公里/小时", top.SpeedKmh))
		} else {
			toolsContains(t, res, top.SegmentID, fmt.Sprintf("congestion index %.2f", top.CongestionIndex), fmt.Sprintf("%.1f km/h", top.SpeedKmh))
		}
	}
	incs := city.IncidentsAt(at, "binjiang", "")
	for _, q := range []string{"Are there any traffic incidents or accidents in Binjiang District?", "滨江区现在有交通事故吗？"} {
		res := toolsAsk(t, r, "traffic", q, democity.SourceName, at)
		switch {
		case len(incs) == 0 && hasHan(q):
			toolsContains(t, res, "滨江区当前没有")
		case len(incs) == 0:
			toolsContains(t, res, "No active")
		case hasHan(q):
			toolsContains(t, res, fmt.Sprintf("滨江区共有%d起", len(incs)), incs[0].SegmentID)
		default:
			toolsContains(t, res, fmt.Sprintf("%d active", len(incs)), "Binjiang District", incs[0].SegmentID)
		}
	}
	plan, _ := city.SignalPlanAt("renmin", at)
	for _, q := range []string{"What is the signal timing plan on Renmin Road?", "人民路的信号配时方案是什么？"} {
		res := toolsAsk(t, r, "traffic", q, democity.SourceName, at)
		if hasHan(q) {
			toolsContains(t, res, fmt.Sprintf("周期%d秒", plan.CycleSec), fmt.Sprintf("主路直行绿灯%d秒", plan.MainGreenSec()), plan.ID)
		} else {
			toolsContains(t, res, fmt.Sprintf("cycle %d s", plan.CycleSec), fmt.Sprintf("main-road through green %d s", plan.MainGreenSec()), plan.ID)
		}
	}
}

func TestPermitsAgentAnswers(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 3, 10, 15, 0, 0, toolsCST)
	r, city := toolsCityRunner(t, at)
	ctx := context.Background()

	review, _ := city.Search(ctx, permits.Query{AsOf: at, District: "dongcheng", Status: democity.StatusUnderReview})
	for _, q := range []string{"How many permits are under review in Dongcheng District?", "东城区有多少许可正在审查中？"} {
		res := toolsAsk(t, r, "permits", q, democity.PermitsSourceName, at)
		if hasHan(q) {
			toolsContains(t, res, fmt.Sprintf("东城区状态为审查中的许可共%d件", review.Total), review.Permits[0].PermitNum)
		} else {
			toolsContains(t, res, fmt.Sprintf("%d permits with status under review in Dongcheng District", review.Total), review.Permits[0].PermitNum)
		}
	}

	page, _ := city.Search(ctx, permits.Query{AsOf: at, PermitType: democity.PermitOccupation, Status: democity.StatusUnderway, Limit: 1})
	p, _ := city.PermitAt(page.Permits[0].PermitNum, at)
	fee := toolsKW(p.Fee)
	for _, q := range []string{"What is the status and history of permit " + p.PermitNum + "?", "许可证" + p.PermitNum + "的办理进度如何？"} {
		res := toolsAsk(t, r, "permits", q, democity.PermitsSourceName, at)
		if hasHan(q) {
			toolsContains(t, res, "当前状态：施工中", "费用"+fee+"元", p.AddressZh, "办理历史")
		} else {
			toolsContains(t, res, "Status: works under way", "Fee "+fee+" yuan", p.OriginalAddress1, "History:")
		}
	}

	from := at.AddDate(0, 0, -90)
	var sum float64
	n, within := 0, 0
	for _, x := range city.PermitsAt(at) {
		if x.PermitType != democity.PermitBuilding || x.IssuedDate == nil || x.IssuedDate.Before(from) {
			continue
		}
		d, _ := x.ProcessingTime(toolsCST)
		sum += d
		n++
		if d <= 7 {
			within++
		}
	}
	mean := math.Round(sum/float64(n)*10) / 10
	pct := math.Round(1000*float64(within)/float64(n)) / 10
	for _, q := range []string{"What is the average processing time for building permits over the last 90 days?", "最近90天建筑工程施工许可的平均办理时间是多少？"} {
		res := toolsAsk(t, r, "permits", q, democity.PermitsSourceName, at)
		if hasHan(q) {
			toolsContains(t, res, fmt.Sprintf("发证%d件，平均%.1f个工作日", n, mean), fmt.Sprintf("办结率%.1f%%", pct))
		} else {
			toolsContains(t, res, fmt.Sprintf("%d issued, mean %.1f", n, mean), fmt.Sprintf("%.1f%% within the 7-day limit", pct))
		}
	}
}

func TestEnergyAgentAnswers(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 3, 14, 7, 0, 0, toolsCST)
	r, city := toolsCityRunner(t, at)
	ctx := context.Background()
	end := time.Date(2025, 6, 3, 14, 0, 0, 0, toolsCST)

	ss, _ := city.Readings(ctx, energy.ReadingsQuery{BuildingIDs: []string{"B012"}, From: end.Add(-24 * time.Hour), To: end})
	var kwh float64
	for _, rd := range ss[0].Readings {
		kwh += rd.KW / 4
	}
	for _, q := range []string{"How much electricity did building B012 use in the last 24 hours?", "B012楼最近24小时用电量是多少？"} {
		res := toolsAsk(t, r, "energy", q, democity.EnergySourceName, at)
		if hasHan(q) {
			toolsContains(t, res, "用电量"+toolsKW(kwh)+"千瓦时")
		} else {
			toolsContains(t, res, toolsKW(kwh)+" kWh")
		}
	}

	midnight := time.Date(2025, 6, 3, 0, 0, 0, 0, toolsCST)
	var peak float64
	var peakAt time.Time
	for t0 := midnight; t0.Before(end); t0 = t0.Add(15 * time.Minute) {
		if v := city.DistrictLoad("binjiang", t0); v > peak {
			peak, peakAt = v, t0
		}
	}
	for _, q := range []string{"What was the peak load in Binjiang District today?", "滨江区今天的最高用电负荷是多少？"} {
		res := toolsAsk(t, r, "energy", q, democity.EnergySourceName, at)
		if hasHan(q) {
			toolsContains(t, res, "最高负荷"+toolsKW(peak)+"千瓦", peakAt.Format("15:04"))
		} else {
			toolsContains(t, res, toolsKW(peak)+" kW at", peakAt.Format("15:04"))
		}
	}

	st, _ := city.DemandResponse(ctx, at)
	var contracted, available float64
	enrolled := 0
	inGaoxin := map[string]bool{}
	for _, b := range city.Buildings() {
		inGaoxin[b.ID] = b.District == "gaoxin"
	}
	for _, b := range st.Buildings {
		if inGaoxin[b.BuildingID] {
			contracted += b.ContractedKW
			available += b.AvailableKW
			enrolled++
		}
	}
	for _, q := range []string{"How much demand-response capacity is available in Gaoxin right now?", "高新区现在可调用的需求响应容量有多少？"} {
		res := toolsAsk(t, r, "energy", q, democity.EnergySourceName, at)
		if hasHan(q) {
			toolsContains(t, res, fmt.Sprintf("参与需求响应的楼宇%d栋", enrolled), "约定削减负荷"+toolsKW(contracted)+"千瓦", "当前可削减"+toolsKW(available)+"千瓦")
		} else {
			toolsContains(t, res, fmt.Sprintf("%d enrolled buildings", enrolled), toolsKW(contracted)+" kW contracted", toolsKW(available)+" kW available")
		}
	}
}
