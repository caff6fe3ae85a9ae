package permits

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

// ---- permits_processing_times -----------------------------------------------

// Group-by choices of permits_processing_times.
const (
	GroupByType     = "permit_type"
	GroupByDistrict = "district"
)

// ProcessingArgs are permits_processing_times' arguments.
type ProcessingArgs struct {
	PermitType string `json:"permit_type,omitempty" jsonschema:"Permit type (许可类型) to measure; omit for all types."`
	District   string `json:"district,omitempty" jsonschema:"District (城区) to measure; omit for the whole city (全市)."`
	Days       int    `json:"days,omitempty" jsonschema:"Window in days: permits issued in the last N days (最近N天发证); omit for the last 90 days (默认90天)."`
	GroupBy    string `json:"group_by,omitempty" jsonschema:"Break the statistics down by permit_type (按许可类型) or district (按城区)."`
}

// Stats are processing-time statistics of a group of permits, in working days.
type Stats struct {
	Key           string  `json:"key,omitempty"`
	Name          string  `json:"name,omitempty"`
	NameZh        string  `json:"name_zh,omitempty"`
	Count         int     `json:"count"`
	MeanDays      float64 `json:"mean_days"`
	MedianDays    float64 `json:"median_days"`
	P90Days       float64 `json:"p90_days"`
	MaxDays       float64 `json:"max_days"`
	TimeLimitDays int     `json:"time_limit_days,omitempty"`
	// WithinLimit and OverLimit count permits with a known time limit.
	WithinLimit    int     `json:"within_limit"`
	OverLimit      int     `json:"over_limit"`
	WithinLimitPct float64 `json:"within_limit_pct,omitempty"`
}

// ProcessingResult is permits_processing_times' answer.
type ProcessingResult struct {
	AsOf       time.Time `json:"as_of"`
	From       time.Time `json:"from"`
	PermitType string    `json:"permit_type,omitempty"`
	District   string    `json:"district,omitempty"`
	Days       int       `json:"days"`
	GroupBy    string    `json:"group_by"`
	Overall    Stats     `json:"overall"`
	Groups     []Stats   `json:"groups"`
	Truncated  bool      `json:"truncated,omitempty"`
	// Skipped counts incomplete records the source could not read.
	Skipped   int    `json:"skipped_incomplete,omitempty"`
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
}

func (s *service) processingTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameProcessingTimes,
		Description: "Processing-time statistics over the last N days: average (mean), median, 90th-percentile and longest working days " +
			"from acceptance to issue of the permits issued in that window, and how many finished within or over the statutory " +
			"limit, by type or district. Give days (default 90) or district. Use for: average processing time, turnaround, delays, on-time rate over the last 90 days. " +
			"办理时效统计：最近N天发证的许可从受理到发证的平均、中位数、90%分位和最长工作日数，按时办结与超期件数，可按类型或城区分组。" +
			"关键词：平均办理时长 平均办理时间 平均用时 办结率 超期 时效。",
		Clearance: access.Public,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneType(sc, "permit_type")
		s.cat.TuneDistrict(sc, "district")
		// No schema default: days would then always be "given", and a
		// question naming no window or district would plan statistics.
		d := sc.Properties["days"]
		d.Minimum, d.Maximum = jsonschema.Ptr(7.0), jsonschema.Ptr(730.0)
		g := sc.Properties["group_by"]
		g.Enum = []any{GroupByType, GroupByDistrict}
		g.Default = []byte(`"` + GroupByType + `"`)
		// A permit type alone reads as a rules question ("the fee for a road
		// occupation permit"), not as a request for statistics.
		sc.AnyOf = []*jsonschema.Schema{{Required: []string{"days"}}, {Required: []string{"district"}}}
	}, s.processing)
}

// scan reads every permit matching q, page by page, up to maxScan.
func (s *service) scan(ctx context.Context, q Query) (out []Permit, skipped int, truncated bool, err error) {
	q.Limit = scanPage
	for {
		page, err := s.src.Search(ctx, q)
		if err != nil {
			return nil, 0, false, err
		}
		out = append(out, page.Permits...)
		skipped += page.Skipped
		read := len(page.Permits) + page.Skipped
		if read < q.Limit || q.Offset+read >= page.Total {
			return out, skipped, false, nil
		}
		if len(out) >= maxScan {
			return out[:maxScan], skipped, true, nil
		}
		q.Offset += read
	}
}

// defaultDays is the window of permits_processing_times when days is omitted.
const defaultDays = 90

func (s *service) processing(ctx context.Context, in ProcessingArgs) (tools.Result, error) {
	now := s.clock()
	if in.Days == 0 {
		in.Days = defaultDays
	}
	from := now.AddDate(0, 0, -in.Days)
	ps, skipped, truncated, err := s.scan(ctx, Query{PermitType: in.PermitType, District: in.District, IssuedFrom: from, IssuedTo: now, OrderBy: OrderIssuedDesc, AsOf: now})
	if err != nil {
		return tools.Result{}, citytool.SourceFailed("permit", fmt.Errorf("permits: processing times: %w", err))
	}
	res := ProcessingResult{AsOf: now, From: from, PermitType: in.PermitType, District: in.District, Days: in.Days, GroupBy: in.GroupBy, Truncated: truncated, Skipped: skipped, Groups: []Stats{}}
	type sample struct {
		days  float64
		limit int
	}
	groups := map[string][]sample{}
	var all []sample
	for _, p := range ps {
		d, ok := p.ProcessingTime(s.cat.Loc)
		if !ok {
			continue
		}
		sm := sample{days: d, limit: s.cat.types[p.PermitType].TimeLimitDays}
		all = append(all, sm)
		key := p.PermitType
		if in.GroupBy == GroupByDistrict {
			key = p.District
		}
		groups[key] = append(groups[key], sm)
	}
	stats := func(key string, xs []sample) Stats {
		st := Stats{Key: key, Count: len(xs)}
		if len(xs) == 0 {
			return st
		}
		days := make([]float64, len(xs))
		sum := 0.0
		limits := map[int]bool{}
		for i, x := range xs {
			days[i] = x.days
			sum += x.days
			if x.limit > 0 {
				limits[x.limit] = true
				if x.days <= float64(x.limit) {
					st.WithinLimit++
				} else {
					st.OverLimit++
				}
			}
		}
		slices.Sort(days)
		st.MeanDays = citytool.Round1(sum / float64(len(days)))
		st.MedianDays = median(days)
		st.P90Days = days[max(0, int(math.Ceil(0.9*float64(len(days))))-1)]
		st.MaxDays = days[len(days)-1]
		if len(limits) == 1 {
			for l := range limits {
				st.TimeLimitDays = l
			}
		}
		if n := st.WithinLimit + st.OverLimit; n > 0 {
			st.WithinLimitPct = citytool.Round1(100 * float64(st.WithinLimit) / float64(n))
		}
		return st
	}
	res.Overall = stats("", all)
	for key, xs := range groups {
		st := stats(key, xs)
		if in.GroupBy == GroupByDistrict {
			st.Name, st.NameZh = s.cat.DistrictNames(key)
		} else {
			st.Name, st.NameZh = s.cat.typeNames(key)
		}
		res.Groups = append(res.Groups, st)
	}
	slices.SortFunc(res.Groups, func(a, b Stats) int {
		if d := cmp.Compare(b.Count, a.Count); d != 0 {
			return d
		}
		return cmp.Compare(a.Key, b.Key)
	})
	en, zh := s.processingSummary(res)
	res.Summary, res.SummaryZh = withSkipped(res.Skipped, en, zh)
	return tools.JSONResult(res, s.cat.Cite("Permit processing times 许可办理时效", now))
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return citytool.Round1((sorted[n/2-1] + sorted[n/2]) / 2)
}

func (st Stats) line() (en, zh string) {
	en = fmt.Sprintf("%d issued, mean %.1f, median %.1f, 90th percentile %.0f, longest %.0f working days", st.Count, st.MeanDays, st.MedianDays, st.P90Days, st.MaxDays)
	zh = fmt.Sprintf("发证%d件，平均%.1f个工作日，中位数%.1f，90%%分位%.0f，最长%.0f", st.Count, st.MeanDays, st.MedianDays, st.P90Days, st.MaxDays)
	if n := st.WithinLimit + st.OverLimit; n > 0 {
		limit := ""
		limitZh := ""
		if st.TimeLimitDays > 0 {
			limit = fmt.Sprintf(" the %d-day", st.TimeLimitDays)
			limitZh = fmt.Sprintf("%d个工作日", st.TimeLimitDays)
		}
		en += fmt.Sprintf("; %.1f%% within%s limit (%d over)", st.WithinLimitPct, limit, st.OverLimit)
		zh += fmt.Sprintf("；%s时限内办结率%.1f%%（超期%d件）", limitZh, st.WithinLimitPct, st.OverLimit)
	}
	return en, zh
}

func (s *service) processingSummary(r ProcessingResult) (en, zh string) {
	what, whatZh := "permits", "许可"
	if r.PermitType != "" {
		te, tz := s.cat.typeNames(r.PermitType)
		what, whatZh = te+"s", tz
	}
	where, whereZh := "city-wide", "全市"
	if r.District != "" {
		de, dz := s.cat.DistrictNames(r.District)
		where, whereZh = "in "+de, dz
	}
	period := fmt.Sprintf("issued in the last %d days (%s to %s)", r.Days, s.cat.Date(r.From), s.cat.Date(r.AsOf))
	periodZh := fmt.Sprintf("最近%d天（%s至%s）发证的", r.Days, s.cat.Date(r.From), s.cat.Date(r.AsOf))
	if r.Overall.Count == 0 {
		return fmt.Sprintf("No %s %s were %s.", what, where, period), fmt.Sprintf("%s没有%s%s。", whereZh, periodZh, whatZh)
	}
	oe, oz := r.Overall.line()
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Processing times of %s %s %s, from accepted application to issue: %s.", what, where, period, oe)
	fmt.Fprintf(&bz, "%s%s%s办理时效（自受理至发证）：%s。", whereZh, periodZh, whatZh, oz)
	if len(r.Groups) > 1 {
		by, byZh := "By permit type", "按许可类型"
		if r.GroupBy == GroupByDistrict {
			by, byZh = "By district", "按城区"
		}
		fmt.Fprintf(&be, " %s: ", by)
		fmt.Fprintf(&bz, "%s：", byZh)
		for i, g := range r.Groups {
			ge, gz := g.line()
			if i > 0 {
				be.WriteString("; ")
				bz.WriteString("；")
			}
			fmt.Fprintf(&be, "%s — %s", g.Name, ge)
			fmt.Fprintf(&bz, "%s：%s", g.NameZh, gz)
		}
		be.WriteString(".")
		bz.WriteString("。")
	}
	if r.Truncated {
		fmt.Fprintf(&be, " (Only the newest %d permits were read.)", maxScan)
		fmt.Fprintf(&bz, "（仅统计最新的%d件。）", maxScan)
	}
	return be.String(), bz.String()
}
