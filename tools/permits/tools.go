package permits

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
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
	s := &service{src: src, cat: newCatalog(src.Info())}
	s.clock = citytool.Clock(clock, s.cat.Loc)
	s.examples = firstPermitIDs(src, s.clock())
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
	// examples are the register's own first permit numbers, for permit_id.
	examples []string
}

// exampleProbe bounds the one read Tools makes for permit_id examples.
const exampleProbe = 10 * time.Second

// firstPermitIDs reads the register's first permit numbers as of now, so
// that permit_id's schema shows the source's own id shape; a source that
// fails or is empty gives none, and the tools still work.
func firstPermitIDs(src Source, now time.Time) []string {
	ctx, cancel := context.WithTimeout(context.Background(), exampleProbe)
	defer cancel()
	page, err := src.Search(ctx, Query{Limit: 3, AsOf: now})
	if err != nil {
		return nil
	}
	var ids []string
	for _, p := range page.Permits {
		if id := strings.TrimSpace(p.PermitNum); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// sourceErr wraps a source failure; a permit that does not exist becomes an
// argument error the model can correct.
func sourceErr(tool, id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return unknownPermit(tool, id)
	}
	return citytool.SourceFailed("permit", fmt.Errorf("permits: %s: %w", tool, err))
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
	// Skipped counts incomplete records of the page the source could not read.
	Skipped   int    `json:"skipped_incomplete,omitempty"`
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		s.cat.tuneType(sc, "permit_type")
		s.cat.tuneStatus(sc, "status")
		p := sc.Properties["applied_within_days"]
		p.Minimum, p.Maximum = jsonschema.Ptr(1.0), jsonschema.Ptr(730.0)
		citytool.IntRange(sc.Properties["limit"], 1, 20, 5)
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
		r.DistrictName, r.DistrictNameZh = s.cat.DistrictNames(p.District)
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
		return tools.Result{}, citytool.SourceFailed("permit", fmt.Errorf("permits: search: %w", err))
	}
	res := SearchResult{AsOf: now, District: in.District, PermitType: in.PermitType, Status: in.Status, Query: q.Text,
		AppliedWithinDays: in.AppliedWithinDays, Flagged: in.Flagged, Total: page.Total, Skipped: page.Skipped, Permits: []PermitRow{}}
	for _, p := range page.Permits[:min(len(page.Permits), in.Limit)] {
		res.Permits = append(res.Permits, s.row(p))
	}
	en, zh := s.searchSummary(res)
	res.Summary, res.SummaryZh = withSkipped(res.Skipped, en, zh)
	return tools.JSONResult(res, s.cat.Cite("Permit register search 许可查询", now))
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
		de, dz := s.cat.DistrictNames(r.District)
		where, whereZh = "in "+de, dz
	}
	en = strings.Join(strings.Fields(what+" "+strings.Join(pe, ", ")+" "+where), " ")
	zh = whereZh + strings.Join(pz, "") + whatZh
	return en, zh
}

func (s *service) searchSummary(r SearchResult) (en, zh string) {
	whenEn, whenZh := s.cat.When(r.AsOf)
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
		fmt.Fprintf(&be, "%d) %s %s at %s, %s since %s", i+1, p.PermitNum, p.TypeName, p.Address, p.StatusName, s.cat.Date(p.StatusDate))
		fmt.Fprintf(&bz, "%d）%s %s，%s，%s（%s起）", i+1, p.PermitNum, p.TypeNameZh, nonEmpty(p.AddressZh, p.Address), p.StatusNameZh, s.cat.Date(p.StatusDate))
		if p.Fee > 0 {
			fe, fz := s.cat.Money(p.Fee)
			fmt.Fprintf(&be, ", fee %s", fe)
			fmt.Fprintf(&bz, "，费用%s", fz)
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

// withSkipped adds to a summary how many incomplete records were left out.
func withSkipped(n int, en, zh string) (string, string) {
	if n == 0 {
		return en, zh
	}
	verb := "were"
	if n == 1 {
		verb = "was"
	}
	return en + fmt.Sprintf(" %d incomplete %s in the source could not be read and %s left out.", n, citytool.Plural(n, "record"), verb),
		zh + fmt.Sprintf("数据源中有%d条记录不完整，无法读取，未计入。", n)
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
	Currency       string          `json:"currency"`     // ISO 4217 code of permit.Fee
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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		p := sc.Properties["permit_id"]
		p.Pattern = s.cat.info.PermitIDPattern
		citytool.SetExamples(p, s.examples)
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
	res := DetailResult{AsOf: now, Permit: p, Currency: s.cat.CurrencyCode()}
	res.TypeName, res.TypeNameZh = s.cat.typeNames(p.PermitType)
	if p.PermitTypeDesc != "" && res.TypeName == p.PermitType {
		res.TypeName, res.TypeNameZh = p.PermitTypeDesc, nonEmpty(p.PermitTypeDescZh, p.PermitTypeDesc)
	}
	res.StatusName, res.StatusNameZh = s.cat.statusNames(p.StatusCurrent)
	if p.District != "" {
		res.DistrictName, res.DistrictNameZh = s.cat.DistrictNames(p.District)
	}
	res.TimeLimitDays = s.cat.types[p.PermitType].TimeLimitDays
	if d, ok := p.ProcessingTime(s.cat.Loc); ok {
		res.WorkingDays = int(math.Round(d))
	} else if st, ok := s.cat.statuses[p.StatusCurrent]; ok && st.Open {
		res.WorkingDays = WorkingDaysBetween(p.AppliedDate, now, s.cat.Loc)
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
	return tools.JSONResult(res, s.cat.Cite("Permit "+p.PermitNum+" 许可详情", now))
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
	fmt.Fprintf(&be, ". Status: %s since %s", r.StatusName, s.cat.DateTime(p.StatusDate))
	fmt.Fprintf(&bz, "。当前状态：%s（%s起）", r.StatusNameZh, s.cat.DateTime(p.StatusDate))
	if p.StatusCurrentMapped != "" {
		fmt.Fprintf(&be, " (BLDS: %s)", p.StatusCurrentMapped)
	}
	fmt.Fprintf(&be, ". Applied %s", s.cat.Date(p.AppliedDate))
	fmt.Fprintf(&bz, "。申请受理日期%s", s.cat.Date(p.AppliedDate))
	if p.IssuedDate != nil {
		fmt.Fprintf(&be, ", issued %s after %d working %s", s.cat.Date(*p.IssuedDate), r.WorkingDays, citytool.Plural(r.WorkingDays, "day"))
		fmt.Fprintf(&bz, "，%s发证，用时%d个工作日", s.cat.Date(*p.IssuedDate), r.WorkingDays)
	} else if r.WithinLimit != nil {
		fmt.Fprintf(&be, ", %d working %s so far", r.WorkingDays, citytool.Plural(r.WorkingDays, "day"))
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
		fmt.Fprintf(&be, ", completed %s", s.cat.Date(*p.CompletedDate))
		fmt.Fprintf(&bz, "，%s竣工", s.cat.Date(*p.CompletedDate))
	}
	be.WriteString(".")
	bz.WriteString("。")
	if p.Fee > 0 {
		paid, paidZh := "payment status not recorded by the source", "数据源未记录缴费状态"
		switch {
		case p.FeePaid == nil:
		case *p.FeePaid:
			paid, paidZh = "paid", "已缴纳"
		default:
			paid, paidZh = "not yet paid", "尚未缴纳"
		}
		fe, fz := s.cat.Money(p.Fee)
		fmt.Fprintf(&be, " Fee %s", fe)
		fmt.Fprintf(&bz, "费用%s", fz)
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
			he = append(he, s.cat.Date(h.At)+" "+se)
			hz = append(hz, s.cat.Date(h.At)+" "+sz)
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
			fmt.Fprintf(&be, "; next: %s on %s", ke, s.cat.DateTime(n.ScheduledAt))
			fmt.Fprintf(&bz, "；下一次：%s %s", s.cat.DateTime(n.ScheduledAt), kz)
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
