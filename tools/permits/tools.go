package permits

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
)

// Tool names.
const (
	NameSearch          = "permits_search"
	NameDetail          = "permits_detail"
	NameProcessingTimes = "permits_processing_times"
	NameInspectionsDue  = "permits_inspections_due"
)

// maxScan bounds how many permits one statistics call reads from a source.
const maxScan = 20000

// scanPage is the page size statistics read with.
const scanPage = 1000

// Tools returns the permit tools over src: search, detail and processing
// times always, inspections due when src is an InspectionSource. clock
// gives "now" (nil means time.Now); every result is cited as of that time.
func Tools(src Source, clock func() time.Time) []tools.Tool {
	if clock == nil {
		clock = time.Now
	}
	s := &service{src: src, clock: clock, cat: newCatalog(src.Info())}
	ts := []tools.Tool{s.searchTool(), s.detailTool(), s.processingTool()}
	if _, ok := src.(InspectionSource); ok {
		ts = append(ts, s.inspectionsTool())
	}
	return ts
}

type service struct {
	src   Source
	clock func() time.Time
	cat   *catalog
}

func (s *service) citation(title string, at time.Time) tools.Citation {
	return tools.Citation{Source: s.cat.info.Source, Title: title, AsOf: at}
}

// sourceErr wraps a source failure; a permit that does not exist becomes an
// argument error the model can correct.
func sourceErr(tool, id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return unknownPermit(tool, id)
	}
	return fmt.Errorf("permits: %s: %w", tool, err)
}

// ---- permits_search ---------------------------------------------------------

// SearchArgs are permits_search's arguments.
type SearchArgs struct {
	District          string `json:"district,omitempty" jsonschema:"District (城区) the permits are in; omit for the whole city (全市)."`
	PermitType        string `json:"permit_type,omitempty" jsonschema:"Permit type (许可类型); omit for all types."`
	Status            string `json:"status,omitempty" jsonschema:"Current status (办理状态) of the permit or application; omit for any status."`
	Query             string `json:"q,omitempty" jsonschema:"Words to find in the permit number, description, address or company (关键词：地址、单位、描述)."`
	AppliedWithinDays int    `json:"applied_within_days,omitempty" jsonschema:"Applied within N days of now (N天内申请); omit for any time."`
	Flagged           bool   `json:"flagged,omitempty" jsonschema:"Only permits flagged for supervisory review (被标记复核的许可)."`
	Limit             int    `json:"limit,omitempty" jsonschema:"How many permits to list, newest first (返回条数)."`
}

// PermitRow is a permit as a search lists it.
type PermitRow struct {
	PermitNum      string     `json:"PermitNum"`
	PermitType     string     `json:"PermitType"`
	TypeName       string     `json:"type_name"`
	TypeNameZh     string     `json:"type_name_zh"`
	WorkClass      string     `json:"WorkClass,omitempty"`
	Status         string     `json:"StatusCurrent"`
	StatusName     string     `json:"status_name"`
	StatusNameZh   string     `json:"status_name_zh"`
	StatusMapped   string     `json:"StatusCurrentMapped,omitempty"`
	StatusDate     time.Time  `json:"StatusDate"`
	District       string     `json:"district,omitempty"`
	DistrictName   string     `json:"district_name,omitempty"`
	DistrictNameZh string     `json:"district_name_zh,omitempty"`
	Address        string     `json:"OriginalAddress1,omitempty"`
	AddressZh      string     `json:"address_zh,omitempty"`
	Description    string     `json:"Description,omitempty"`
	DescriptionZh  string     `json:"description_zh,omitempty"`
	AppliedDate    time.Time  `json:"AppliedDate"`
	IssuedDate     *time.Time `json:"IssuedDate,omitempty"`
	Fee            float64    `json:"Fee"`
	Flagged        bool       `json:"flagged,omitempty"`
}

// SearchResult is permits_search's answer.
type SearchResult struct {
	AsOf              time.Time   `json:"as_of"`
	District          string      `json:"district,omitempty"`
	PermitType        string      `json:"permit_type,omitempty"`
	Status            string      `json:"status,omitempty"`
	Query             string      `json:"q,omitempty"`
	AppliedWithinDays int         `json:"applied_within_days,omitempty"`
	Flagged           bool        `json:"flagged,omitempty"`
	Total             int         `json:"total"`
	Permits           []PermitRow `json:"permits"`
	Summary           string      `json:"summary"`
	SummaryZh         string      `json:"summary_zh"`
}

func (s *service) searchTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameSearch,
		Description: "Live permit register: how many permits or applications there are now, and the newest ones, in a district, " +
			"at a stage (received, under review, approved, issued, works under way, completed, refused, expired), of a type, " +
			"applied for within N days, or matching an address or company. Give at least one of district, status, " +
			"applied_within_days, flagged or q. Use for: how many permits, which are under review, issued or refused in a district. " +
			"许可登记簿实时统计：某城区、某阶段（已受理、审查中、已批准、已发证、施工中、已竣工、不予许可、已失效）、某类型、N天内申请或地址单位相关的许可有多少件，最新的是哪些。" +
			"关键词：多少件 审查中 在审 已发证 登记簿 许可数量。",
		Clearance: access.Public,
		Source:    s.cat.info.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneDistrict(sc, "district")
		s.cat.tuneType(sc, "permit_type")
		s.cat.tuneStatus(sc, "status")
		p := sc.Properties["applied_within_days"]
		p.Minimum, p.Maximum = jsonschema.Ptr(1.0), jsonschema.Ptr(730.0)
		intRange(sc.Properties["limit"], 1, 20, 5)
		sc.Properties["q"].MaxLength = jsonschema.Ptr(100)
		// At least one filter: a count of the whole register answers no question.
		sc.AnyOf = []*jsonschema.Schema{{Required: []string{"district"}}, {Required: []string{"status"}},
			{Required: []string{"applied_within_days"}}, {Required: []string{"flagged"}}, {Required: []string{"q"}}}
	}, s.search)
}

func (s *service) row(p Permit) PermitRow {
	r := PermitRow{PermitNum: p.PermitNum, PermitType: p.PermitType, WorkClass: p.WorkClass, Status: p.StatusCurrent,
		StatusMapped: p.StatusCurrentMapped, StatusDate: p.StatusDate, District: p.District, Address: p.OriginalAddress1,
		AddressZh: p.AddressZh, Description: p.Description, DescriptionZh: p.DescriptionZh, AppliedDate: p.AppliedDate,
		IssuedDate: p.IssuedDate, Fee: p.Fee, Flagged: p.Flagged}
	r.TypeName, r.TypeNameZh = s.cat.typeNames(p.PermitType)
	if p.PermitTypeDesc != "" && r.TypeName == p.PermitType {
		r.TypeName = p.PermitTypeDesc
	}
	if p.PermitTypeDescZh != "" && r.TypeNameZh == p.PermitType {
		r.TypeNameZh = p.PermitTypeDescZh
	}
	r.StatusName, r.StatusNameZh = s.cat.statusNames(p.StatusCurrent)
	if p.District != "" {
		r.DistrictName, r.DistrictNameZh = s.cat.districtNames(p.District)
	}
	return r
}

func (s *service) search(ctx context.Context, in SearchArgs) (tools.Result, error) {
	now := s.clock()
	q := Query{District: in.District, PermitType: in.PermitType, Status: in.Status, Text: strings.TrimSpace(in.Query),
		Flagged: in.Flagged, Limit: in.Limit, AsOf: now}
	if in.AppliedWithinDays > 0 {
		q.AppliedFrom = now.AddDate(0, 0, -in.AppliedWithinDays)
	}
	page, err := s.src.Search(ctx, q)
	if err != nil {
		return tools.Result{}, fmt.Errorf("permits: search: %w", err)
	}
	res := SearchResult{AsOf: now, District: in.District, PermitType: in.PermitType, Status: in.Status, Query: q.Text,
		AppliedWithinDays: in.AppliedWithinDays, Flagged: in.Flagged, Total: page.Total, Permits: []PermitRow{}}
	for _, p := range page.Permits[:min(len(page.Permits), in.Limit)] {
		res.Permits = append(res.Permits, s.row(p))
	}
	res.Summary, res.SummaryZh = s.searchSummary(res)
	return tools.JSONResult(res, s.citation("Permit register search 许可查询", now))
}

// scope names a search's filters, e.g. "road occupation permits under
// review in Dongcheng District" / "东城区状态为审查中的临时占用道路许可".
func (s *service) scope(r SearchResult) (en, zh string) {
	what, whatZh := "permits", "许可"
	if r.PermitType != "" {
		te, tz := s.cat.typeNames(r.PermitType)
		what, whatZh = te+"s", tz
	}
	var pe, pz []string
	if r.Status != "" {
		se, sz := s.cat.statusNames(r.Status)
		pe = append(pe, "with status "+se)
		pz = append(pz, "状态为"+sz+"的")
	}
	if r.Flagged {
		pe = append(pe, "flagged for review")
		pz = append(pz, "被标记复核的")
	}
	if r.AppliedWithinDays > 0 {
		pe = append(pe, fmt.Sprintf("applied for in the last %d days", r.AppliedWithinDays))
		pz = append(pz, fmt.Sprintf("近%d天内申请的", r.AppliedWithinDays))
	}
	if r.Query != "" {
		pe = append(pe, fmt.Sprintf("matching %q", r.Query))
		pz = append(pz, fmt.Sprintf("包含“%s”的", r.Query))
	}
	where, whereZh := "city-wide", "全市"
	if r.District != "" {
		de, dz := s.cat.districtNames(r.District)
		where, whereZh = "in "+de, dz
	}
	en = strings.Join(strings.Fields(what+" "+strings.Join(pe, ", ")+" "+where), " ")
	zh = whereZh + strings.Join(pz, "") + whatZh
	return en, zh
}

func (s *service) searchSummary(r SearchResult) (en, zh string) {
	whenEn, whenZh := s.cat.when(r.AsOf)
	scopeEn, scopeZh := s.scope(r)
	if r.Total == 0 {
		return fmt.Sprintf("No %s in the permit register at %s.", scopeEn, whenEn),
			fmt.Sprintf("截至%s，许可登记簿中没有%s。", whenZh, scopeZh)
	}
	var be, bz strings.Builder
	if r.Total == 1 {
		scopeEn = strings.Replace(scopeEn, "permits", "permit", 1)
		if r.PermitType != "" {
			te, _ := s.cat.typeNames(r.PermitType)
			scopeEn = strings.Replace(scopeEn, te+"s", te, 1)
		}
	}
	fmt.Fprintf(&be, "%d %s in the permit register at %s", r.Total, scopeEn, whenEn)
	fmt.Fprintf(&bz, "截至%s，%s共%d件", whenZh, scopeZh, r.Total)
	if len(r.Permits) > 0 {
		be.WriteString("; newest first: ")
		bz.WriteString("；最新的：")
	}
	for i, p := range r.Permits[:min(5, len(r.Permits))] {
		fmt.Fprintf(&be, "%d) %s %s at %s, %s since %s", i+1, p.PermitNum, p.TypeName, p.Address, p.StatusName, s.cat.date(p.StatusDate))
		fmt.Fprintf(&bz, "%d）%s %s，%s，%s（%s起）", i+1, p.PermitNum, p.TypeNameZh, nonEmpty(p.AddressZh, p.Address), p.StatusNameZh, s.cat.date(p.StatusDate))
		if p.Fee > 0 {
			fmt.Fprintf(&be, ", fee %s yuan", money(p.Fee))
			fmt.Fprintf(&bz, "，费用%s元", money(p.Fee))
		}
		if p.Flagged {
			be.WriteString(", flagged for review")
			bz.WriteString("，已标记复核")
		}
		be.WriteString("; ")
		bz.WriteString("；")
	}
	return strings.TrimSuffix(strings.TrimSuffix(be.String(), "; "), " ") + ".", strings.TrimSuffix(bz.String(), "；") + "。"
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ---- permits_detail ---------------------------------------------------------

// DetailArgs are permits_detail's arguments.
type DetailArgs struct {
	PermitID string `json:"permit_id" jsonschema:"Permit number (许可证号/办件编号)."`
}

// InspectionTally counts a permit's inspections.
type InspectionTally struct {
	Done      int            `json:"done"`
	Scheduled int            `json:"scheduled"`
	ByResult  map[string]int `json:"by_result,omitempty"`
}

// DetailResult is permits_detail's answer.
type DetailResult struct {
	AsOf           time.Time       `json:"as_of"`
	Permit         Permit          `json:"permit"`
	TypeName       string          `json:"type_name"`
	TypeNameZh     string          `json:"type_name_zh"`
	StatusName     string          `json:"status_name"`
	StatusNameZh   string          `json:"status_name_zh"`
	DistrictName   string          `json:"district_name,omitempty"`
	DistrictNameZh string          `json:"district_name_zh,omitempty"`
	TimeLimitDays  int             `json:"time_limit_days,omitempty"`
	WorkingDays    int             `json:"working_days"` // working days from application to issue, or to now while open
	WithinLimit    *bool           `json:"within_limit,omitempty"`
	Inspections    InspectionTally `json:"inspection_tally"`
	NextInspection *Inspection     `json:"next_inspection,omitempty"`
	Summary        string          `json:"summary"`
	SummaryZh      string          `json:"summary_zh"`
}

func (s *service) detailTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameDetail,
		Description: "One permit in detail by its permit number: type, address, applicant's works, current status and " +
			"its full status history (timeline of each step with dates), working days taken against the statutory time limit, " +
			"fees or deposit and whether paid, site inspections done and scheduled with results, flags for review. " +
			"Use when the question gives a permit number or asks about the progress of one application. " +
			"单个许可详情（按许可证号）：类型、地址、工程内容、当前状态及完整办理历史（各环节时间）、已用工作日与法定时限、费用或押金及缴纳情况、现场检查记录与计划、复核标记。" +
			"关键词：许可证号 办件编号 办理进度 进度 状态 历史 时间线 费用 押金 检查记录。",
		Clearance: access.Public,
		Source:    s.cat.info.Source,
	}, func(sc *jsonschema.Schema) {
		p := sc.Properties["permit_id"]
		p.Pattern = s.cat.info.PermitIDPattern
		if p.Pattern != "" {
			p.Description += " Pattern 格式: " + p.Pattern + "."
		}
		p.MaxLength = jsonschema.Ptr(64)
	}, s.detail)
}

func (s *service) detail(ctx context.Context, in DetailArgs) (tools.Result, error) {
	now := s.clock()
	p, err := s.src.Permit(ctx, strings.TrimSpace(in.PermitID))
	if err != nil {
		return tools.Result{}, sourceErr(NameDetail, in.PermitID, err)
	}
	res := DetailResult{AsOf: now, Permit: p}
	res.TypeName, res.TypeNameZh = s.cat.typeNames(p.PermitType)
	if p.PermitTypeDesc != "" && res.TypeName == p.PermitType {
		res.TypeName, res.TypeNameZh = p.PermitTypeDesc, nonEmpty(p.PermitTypeDescZh, p.PermitTypeDesc)
	}
	res.StatusName, res.StatusNameZh = s.cat.statusNames(p.StatusCurrent)
	if p.District != "" {
		res.DistrictName, res.DistrictNameZh = s.cat.districtNames(p.District)
	}
	res.TimeLimitDays = s.cat.types[p.PermitType].TimeLimitDays
	if d, ok := p.ProcessingTime(s.cat.loc); ok {
		res.WorkingDays = int(math.Round(d))
	} else if st, ok := s.cat.statuses[p.StatusCurrent]; ok && st.Open {
		res.WorkingDays = WorkingDaysBetween(p.AppliedDate, now, s.cat.loc)
	}
	if res.TimeLimitDays > 0 && (p.IssuedDate != nil || s.cat.statuses[p.StatusCurrent].Open) {
		within := res.WorkingDays <= res.TimeLimitDays
		res.WithinLimit = &within
	}
	res.Inspections.ByResult = map[string]int{}
	for i, insp := range p.Inspections {
		switch insp.Status {
		case InspectionDone:
			res.Inspections.Done++
			if insp.Result != "" {
				res.Inspections.ByResult[insp.Result]++
			}
		case InspectionScheduled:
			res.Inspections.Scheduled++
			if res.NextInspection == nil || insp.ScheduledAt.Before(res.NextInspection.ScheduledAt) {
				res.NextInspection = &p.Inspections[i]
			}
		}
	}
	res.Summary, res.SummaryZh = s.detailSummary(res)
	return tools.JSONResult(res, s.citation("Permit "+p.PermitNum+" 许可详情", now))
}

// resultLabel names an inspection result.
func resultLabel(r string) (en, zh string) {
	switch r {
	case ResultPassed:
		return "passed", "合格"
	case ResultMinor:
		return "minor issues", "一般问题"
	case ResultMajor:
		return "major hazard", "较大隐患"
	case ResultSerious:
		return "serious hazard, works stopped", "重大隐患，责令停工"
	}
	return r, r
}

func (s *service) detailSummary(r DetailResult) (en, zh string) {
	p := r.Permit
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Permit %s: %s", p.PermitNum, r.TypeName)
	fmt.Fprintf(&bz, "许可%s：%s", p.PermitNum, r.TypeNameZh)
	if p.WorkClass != "" {
		fmt.Fprintf(&be, " (%s)", p.WorkClass)
	}
	if p.OriginalAddress1 != "" {
		fmt.Fprintf(&be, " at %s", p.OriginalAddress1)
		fmt.Fprintf(&bz, "，%s", nonEmpty(p.AddressZh, p.OriginalAddress1))
	}
	if r.DistrictName != "" {
		fmt.Fprintf(&be, ", %s", r.DistrictName)
		fmt.Fprintf(&bz, "（%s）", r.DistrictNameZh)
	}
	if p.Description != "" {
		fmt.Fprintf(&be, ": %s", strings.TrimSuffix(p.Description, "."))
	}
	if p.DescriptionZh != "" {
		fmt.Fprintf(&bz, "：%s", strings.TrimSuffix(p.DescriptionZh, "。"))
	}
	fmt.Fprintf(&be, ". Status: %s since %s", r.StatusName, s.cat.dateTime(p.StatusDate))
	fmt.Fprintf(&bz, "。当前状态：%s（%s起）", r.StatusNameZh, s.cat.dateTime(p.StatusDate))
	if p.StatusCurrentMapped != "" {
		fmt.Fprintf(&be, " (BLDS: %s)", p.StatusCurrentMapped)
	}
	fmt.Fprintf(&be, ". Applied %s", s.cat.date(p.AppliedDate))
	fmt.Fprintf(&bz, "。申请受理日期%s", s.cat.date(p.AppliedDate))
	if p.IssuedDate != nil {
		fmt.Fprintf(&be, ", issued %s after %d working %s", s.cat.date(*p.IssuedDate), r.WorkingDays, plural(r.WorkingDays, "day"))
		fmt.Fprintf(&bz, "，%s发证，用时%d个工作日", s.cat.date(*p.IssuedDate), r.WorkingDays)
	} else if r.WithinLimit != nil {
		fmt.Fprintf(&be, ", %d working %s so far", r.WorkingDays, plural(r.WorkingDays, "day"))
		fmt.Fprintf(&bz, "，已用%d个工作日", r.WorkingDays)
	}
	if r.TimeLimitDays > 0 && r.WithinLimit != nil {
		if *r.WithinLimit {
			fmt.Fprintf(&be, " (within the %d-working-day limit)", r.TimeLimitDays)
			fmt.Fprintf(&bz, "（法定时限%d个工作日内）", r.TimeLimitDays)
		} else {
			fmt.Fprintf(&be, " (over the %d-working-day limit by %d)", r.TimeLimitDays, r.WorkingDays-r.TimeLimitDays)
			fmt.Fprintf(&bz, "（超出法定时限%d个工作日%d天）", r.TimeLimitDays, r.WorkingDays-r.TimeLimitDays)
		}
	}
	if p.CompletedDate != nil {
		fmt.Fprintf(&be, ", completed %s", s.cat.date(*p.CompletedDate))
		fmt.Fprintf(&bz, "，%s竣工", s.cat.date(*p.CompletedDate))
	}
	be.WriteString(".")
	bz.WriteString("。")
	if p.Fee > 0 {
		paid, paidZh := "not yet paid", "尚未缴纳"
		if p.FeePaid {
			paid, paidZh = "paid", "已缴纳"
		}
		fmt.Fprintf(&be, " Fee %s yuan", money(p.Fee))
		fmt.Fprintf(&bz, "费用%s元", money(p.Fee))
		if p.FeeBasis != "" {
			fmt.Fprintf(&be, " (%s)", p.FeeBasis)
		}
		if p.FeeBasisZh != "" {
			fmt.Fprintf(&bz, "（%s）", p.FeeBasisZh)
		}
		fmt.Fprintf(&be, ", %s.", paid)
		fmt.Fprintf(&bz, "，%s。", paidZh)
	} else {
		be.WriteString(" No fee.")
		bz.WriteString("无需缴费。")
	}
	if len(p.History) > 0 {
		var he, hz []string
		for _, h := range p.History {
			se, sz := s.cat.statusNames(h.Status)
			if h.Note != "" {
				se = h.Note
			}
			if h.NoteZh != "" {
				sz = h.NoteZh
			}
			he = append(he, s.cat.date(h.At)+" "+se)
			hz = append(hz, s.cat.date(h.At)+" "+sz)
		}
		fmt.Fprintf(&be, " History: %s.", strings.Join(he, "; "))
		fmt.Fprintf(&bz, "办理历史：%s。", strings.Join(hz, "；"))
	}
	if t := r.Inspections; t.Done+t.Scheduled > 0 {
		var re, rz []string
		keys := make([]string, 0, len(t.ByResult))
		for k := range t.ByResult {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			le, lz := resultLabel(k)
			re = append(re, fmt.Sprintf("%d %s", t.ByResult[k], le))
			rz = append(rz, fmt.Sprintf("%s%d次", lz, t.ByResult[k]))
		}
		fmt.Fprintf(&be, " Inspections: %d done", t.Done)
		fmt.Fprintf(&bz, "现场检查：已完成%d次", t.Done)
		if len(re) > 0 {
			fmt.Fprintf(&be, " (%s)", strings.Join(re, ", "))
			fmt.Fprintf(&bz, "（%s）", strings.Join(rz, "，"))
		}
		fmt.Fprintf(&be, ", %d scheduled", t.Scheduled)
		fmt.Fprintf(&bz, "，计划%d次", t.Scheduled)
		if n := r.NextInspection; n != nil {
			ke, kz := s.cat.kindNames(n.Kind)
			fmt.Fprintf(&be, "; next: %s on %s", ke, s.cat.dateTime(n.ScheduledAt))
			fmt.Fprintf(&bz, "；下一次：%s %s", s.cat.dateTime(n.ScheduledAt), kz)
		}
		be.WriteString(".")
		bz.WriteString("。")
	}
	if p.Flagged {
		fmt.Fprintf(&be, " Flagged for review: %s.", p.FlagReason)
		fmt.Fprintf(&bz, "已标记复核：%s。", p.FlagReason)
	}
	return be.String(), bz.String()
}

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
	Days       int    `json:"days" jsonschema:"Window in days: permits issued in the last N days (最近N天发证), e.g. 90."`
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
	Summary    string    `json:"summary"`
	SummaryZh  string    `json:"summary_zh"`
}

func (s *service) processingTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameProcessingTimes,
		Description: "Processing-time statistics over the last N days: average (mean), median, 90th-percentile and longest working days " +
			"from acceptance to issue of the permits issued in that window, and how many finished within or over the statutory " +
			"limit, by type or district. Use for: average processing time, turnaround, delays, on-time rate over the last 90 days. " +
			"办理时效统计：最近N天发证的许可从受理到发证的平均、中位数、90%分位和最长工作日数，按时办结与超期件数，可按类型或城区分组。" +
			"关键词：平均办理时长 平均办理时间 平均用时 办结率 超期 时效。",
		Clearance: access.Public,
		Source:    s.cat.info.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneType(sc, "permit_type")
		s.cat.tuneDistrict(sc, "district")
		d := sc.Properties["days"]
		d.Minimum, d.Maximum = jsonschema.Ptr(7.0), jsonschema.Ptr(730.0)
		g := sc.Properties["group_by"]
		g.Enum = []any{GroupByType, GroupByDistrict}
		g.Default = []byte(`"` + GroupByType + `"`)
	}, s.processing)
}

// scan reads every permit matching q, page by page, up to maxScan.
func (s *service) scan(ctx context.Context, q Query) ([]Permit, bool, error) {
	var out []Permit
	q.Limit = scanPage
	for {
		page, err := s.src.Search(ctx, q)
		if err != nil {
			return nil, false, err
		}
		out = append(out, page.Permits...)
		if len(page.Permits) < q.Limit || len(out) >= page.Total {
			return out, false, nil
		}
		if len(out) >= maxScan {
			return out[:maxScan], true, nil
		}
		q.Offset += len(page.Permits)
	}
}

func (s *service) processing(ctx context.Context, in ProcessingArgs) (tools.Result, error) {
	now := s.clock()
	from := now.AddDate(0, 0, -in.Days)
	ps, truncated, err := s.scan(ctx, Query{PermitType: in.PermitType, District: in.District, IssuedFrom: from, IssuedTo: now, OrderBy: OrderIssuedDesc, AsOf: now})
	if err != nil {
		return tools.Result{}, fmt.Errorf("permits: processing times: %w", err)
	}
	res := ProcessingResult{AsOf: now, From: from, PermitType: in.PermitType, District: in.District, Days: in.Days, GroupBy: in.GroupBy, Truncated: truncated, Groups: []Stats{}}
	type sample struct {
		days  float64
		limit int
	}
	groups := map[string][]sample{}
	var all []sample
	for _, p := range ps {
		d, ok := p.ProcessingTime(s.cat.loc)
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
		st.MeanDays = round1(sum / float64(len(days)))
		st.MedianDays = median(days)
		st.P90Days = days[max(0, int(math.Ceil(0.9*float64(len(days))))-1)]
		st.MaxDays = days[len(days)-1]
		if len(limits) == 1 {
			for l := range limits {
				st.TimeLimitDays = l
			}
		}
		if n := st.WithinLimit + st.OverLimit; n > 0 {
			st.WithinLimitPct = round1(100 * float64(st.WithinLimit) / float64(n))
		}
		return st
	}
	res.Overall = stats("", all)
	for key, xs := range groups {
		st := stats(key, xs)
		if in.GroupBy == GroupByDistrict {
			st.Name, st.NameZh = s.cat.districtNames(key)
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
	res.Summary, res.SummaryZh = s.processingSummary(res)
	return tools.JSONResult(res, s.citation("Permit processing times 许可办理时效", now))
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return round1((sorted[n/2-1] + sorted[n/2]) / 2)
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
		de, dz := s.cat.districtNames(r.District)
		where, whereZh = "in "+de, dz
	}
	period := fmt.Sprintf("issued in the last %d days (%s to %s)", r.Days, s.cat.date(r.From), s.cat.date(r.AsOf))
	periodZh := fmt.Sprintf("最近%d天（%s至%s）发证的", r.Days, s.cat.date(r.From), s.cat.date(r.AsOf))
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

// ---- permits_inspections_due ------------------------------------------------

// InspectionsArgs are permits_inspections_due's arguments.
type InspectionsArgs struct {
	Days      int    `json:"days,omitempty" jsonschema:"Look ahead N days from now (未来N天); 7 when omitted."`
	District  string `json:"district,omitempty" jsonschema:"District (城区) of the sites; omit for the whole city (全市)."`
	Kind      string `json:"kind,omitempty" jsonschema:"Inspection kind (检查类型); omit for all kinds."`
	RiskClass string `json:"risk_class,omitempty" jsonschema:"Risk class (风险等级) of the project: A high risk 高风险, B general 一般风险, C low risk 低风险; omit for all."`
	Limit     int    `json:"limit,omitempty" jsonschema:"How many inspections to list, soonest first (返回条数)."`
}

// InspectionRow is an inspection due, with its permit's names.
type InspectionRow struct {
	Inspection
	KindName       string `json:"kind_name"`
	KindNameZh     string `json:"kind_name_zh"`
	PermitType     string `json:"permit_type,omitempty"`
	TypeName       string `json:"type_name,omitempty"`
	TypeNameZh     string `json:"type_name_zh,omitempty"`
	Address        string `json:"address,omitempty"`
	AddressZh      string `json:"address_zh,omitempty"`
	DistrictName   string `json:"district_name,omitempty"`
	DistrictNameZh string `json:"district_name_zh,omitempty"`
}

// InspectionsResult is permits_inspections_due's answer.
type InspectionsResult struct {
	AsOf        time.Time       `json:"as_of"`
	Until       time.Time       `json:"until"`
	Days        int             `json:"days"`
	District    string          `json:"district,omitempty"`
	Kind        string          `json:"kind,omitempty"`
	RiskClass   string          `json:"risk_class,omitempty"`
	Count       int             `json:"count"`
	ByKind      map[string]int  `json:"by_kind"`
	ByDistrict  map[string]int  `json:"by_district"`
	Inspections []InspectionRow `json:"inspections"`
	Summary     string          `json:"summary"`
	SummaryZh   string          `json:"summary_zh"`
}

func (s *service) inspectionsTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameInspectionsDue,
		Description: "Site inspections due in the next N days: construction-site inspections on the supervision plan (first, routine, " +
			"re-inspection after rectification, final, complaint follow-up), soonest first, with address, district and risk class, " +
			"and counts by kind and district. Use for: upcoming site inspections, which sites inspectors visit in the next 7 days. " +
			"待办现场检查：未来N天计划进行的施工现场检查（首次、日常、整改复查、竣工、投诉跟进），按时间排序，含地址、城区、风险等级及分类统计。" +
			"关键词：现场检查 待检查 检查计划 巡查 未来7天。",
		Clearance: access.Internal,
		Source:    s.cat.info.Source,
	}, func(sc *jsonschema.Schema) {
		d := sc.Properties["days"]
		d.Minimum, d.Maximum = jsonschema.Ptr(1.0), jsonschema.Ptr(31.0)
		s.cat.tuneDistrict(sc, "district")
		s.cat.tuneKind(sc, "kind")
		sc.Properties["risk_class"].Enum = []any{"A", "B", "C"}
		intRange(sc.Properties["limit"], 1, 30, 10)
		sc.AnyOf = []*jsonschema.Schema{{Required: []string{"days"}}, {Required: []string{"kind"}}, {Required: []string{"risk_class"}}}
	}, s.inspections)
}

func (s *service) inspections(ctx context.Context, in InspectionsArgs) (tools.Result, error) {
	if in.Days == 0 {
		in.Days = 7
	}
	now := s.clock()
	until := now.AddDate(0, 0, in.Days)
	all, err := s.src.(InspectionSource).Inspections(ctx, now, until)
	if err != nil {
		return tools.Result{}, fmt.Errorf("permits: inspections: %w", err)
	}
	res := InspectionsResult{AsOf: now, Until: until, Days: in.Days, District: in.District, Kind: in.Kind, RiskClass: in.RiskClass,
		ByKind: map[string]int{}, ByDistrict: map[string]int{}, Inspections: []InspectionRow{}}
	var due []Inspection
	for _, insp := range all {
		if insp.Status != InspectionScheduled || insp.ScheduledAt.Before(now) || !insp.ScheduledAt.Before(until) ||
			(in.District != "" && insp.District != in.District) || (in.Kind != "" && insp.Kind != in.Kind) ||
			(in.RiskClass != "" && insp.RiskClass != in.RiskClass) {
			continue
		}
		due = append(due, insp)
		res.ByKind[insp.Kind]++
		res.ByDistrict[insp.District]++
	}
	slices.SortFunc(due, func(a, b Inspection) int {
		if d := a.ScheduledAt.Compare(b.ScheduledAt); d != 0 {
			return d
		}
		return cmp.Compare(a.ID, b.ID)
	})
	res.Count = len(due)
	for _, insp := range due[:min(len(due), in.Limit)] {
		row := InspectionRow{Inspection: insp}
		row.KindName, row.KindNameZh = s.cat.kindNames(insp.Kind)
		row.DistrictName, row.DistrictNameZh = s.cat.districtNames(insp.District)
		if p, err := s.src.Permit(ctx, insp.PermitNum); err == nil {
			row.PermitType, row.Address, row.AddressZh = p.PermitType, p.OriginalAddress1, p.AddressZh
			row.TypeName, row.TypeNameZh = s.cat.typeNames(p.PermitType)
		} else if !errors.Is(err, ErrNotFound) {
			return tools.Result{}, fmt.Errorf("permits: inspections: permit %s: %w", insp.PermitNum, err)
		}
		res.Inspections = append(res.Inspections, row)
	}
	res.Summary, res.SummaryZh = s.inspectionsSummary(res)
	return tools.JSONResult(res, s.citation("Site inspections due 待办现场检查", now))
}

// counts formats a tally as "12 routine inspections, 3 final inspections".
func (s *service) counts(m map[string]int, names func(string) (string, string), pluralize bool) (en, zh string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := cmp.Compare(m[b], m[a]); d != 0 {
			return d
		}
		return cmp.Compare(a, b)
	})
	var pe, pz []string
	for _, k := range keys {
		ne, nz := names(k)
		if !pluralize {
			pe = append(pe, fmt.Sprintf("%s %d", ne, m[k]))
			pz = append(pz, fmt.Sprintf("%s%d次", nz, m[k]))
			continue
		}
		if m[k] != 1 {
			ne += "s"
		}
		pe = append(pe, fmt.Sprintf("%d %s", m[k], ne))
		pz = append(pz, fmt.Sprintf("%s%d次", nz, m[k]))
	}
	return strings.Join(pe, ", "), strings.Join(pz, "，")
}

func (s *service) inspectionsSummary(r InspectionsResult) (en, zh string) {
	where, whereZh := "city-wide", "全市"
	if r.District != "" {
		de, dz := s.cat.districtNames(r.District)
		where, whereZh = "in "+de, dz
	}
	what, whatZh := "site inspections", "现场检查"
	if r.Kind != "" {
		ke, kz := s.cat.kindNames(r.Kind)
		what, whatZh = ke+"s", kz
	}
	if r.RiskClass != "" {
		what = "risk class " + r.RiskClass + " " + what
		whatZh = r.RiskClass + "类项目" + whatZh
	}
	span := fmt.Sprintf("in the next %d %s (%s to %s)", r.Days, plural(r.Days, "day"), s.cat.dateTime(r.AsOf), s.cat.dateTime(r.Until))
	spanZh := fmt.Sprintf("未来%d天（%s至%s）", r.Days, s.cat.dateTime(r.AsOf), s.cat.dateTime(r.Until))
	if r.Count == 0 {
		return fmt.Sprintf("No %s due %s %s.", what, where, span), fmt.Sprintf("%s%s没有待进行的%s。", spanZh, whereZh, whatZh)
	}
	var be, bz strings.Builder
	ke, kz := s.counts(r.ByKind, s.cat.kindNames, true)
	fmt.Fprintf(&be, "%d %s due %s %s: %s.", r.Count, what, where, span, ke)
	fmt.Fprintf(&bz, "%s%s共有%d次%s待进行：%s。", spanZh, whereZh, r.Count, whatZh, kz)
	if r.District == "" {
		de, dz := s.counts(r.ByDistrict, s.cat.districtNames, false)
		fmt.Fprintf(&be, " By district: %s.", de)
		fmt.Fprintf(&bz, "按城区：%s。", dz)
	}
	be.WriteString(" Soonest: ")
	bz.WriteString("最近的：")
	for i, row := range r.Inspections[:min(3, len(r.Inspections))] {
		if i > 0 {
			be.WriteString("; ")
			bz.WriteString("；")
		}
		fmt.Fprintf(&be, "%d) %s %s of %s", i+1, s.cat.dateTime(row.ScheduledAt), row.KindName, row.PermitNum)
		fmt.Fprintf(&bz, "%d）%s %s，%s", i+1, s.cat.dateTime(row.ScheduledAt), row.KindNameZh, row.PermitNum)
		if row.TypeName != "" {
			fmt.Fprintf(&be, " (%s", row.TypeName)
			fmt.Fprintf(&bz, "（%s", row.TypeNameZh)
			if row.RiskClass != "" {
				fmt.Fprintf(&be, ", risk class %s", row.RiskClass)
				fmt.Fprintf(&bz, "，%s类", row.RiskClass)
			}
			be.WriteString(")")
			bz.WriteString("）")
		}
		if row.Address != "" {
			fmt.Fprintf(&be, " at %s", row.Address)
			fmt.Fprintf(&bz, "，%s", nonEmpty(row.AddressZh, row.Address))
		}
	}
	be.WriteString(".")
	bz.WriteString("。")
	return be.String(), bz.String()
}
