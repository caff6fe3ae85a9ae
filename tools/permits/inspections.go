package permits

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		d := sc.Properties["days"]
		d.Minimum, d.Maximum = jsonschema.Ptr(1.0), jsonschema.Ptr(31.0)
		s.cat.TuneDistrict(sc, "district")
		s.cat.tuneKind(sc, "kind")
		sc.Properties["risk_class"].Enum = []any{"A", "B", "C"}
		citytool.IntRange(sc.Properties["limit"], 1, 30, 10)
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
		return tools.Result{}, citytool.SourceFailed("permit", fmt.Errorf("permits: inspections: %w", err))
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
		row.DistrictName, row.DistrictNameZh = s.cat.DistrictNames(insp.District)
		if p, err := s.src.Permit(ctx, insp.PermitNum); err == nil {
			row.PermitType, row.Address, row.AddressZh = p.PermitType, p.OriginalAddress1, p.AddressZh
			row.TypeName, row.TypeNameZh = s.cat.typeNames(p.PermitType)
		} else if !errors.Is(err, ErrNotFound) {
			return tools.Result{}, fmt.Errorf("permits: inspections: permit %s: %w", insp.PermitNum, err)
		}
		res.Inspections = append(res.Inspections, row)
	}
	res.Summary, res.SummaryZh = s.inspectionsSummary(res)
	return tools.JSONResult(res, s.cat.Cite("Site inspections due 待办现场检查", now))
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
		de, dz := s.cat.DistrictNames(r.District)
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
	span := fmt.Sprintf("in the next %d %s (%s to %s)", r.Days, citytool.Plural(r.Days, "day"), s.cat.DateTime(r.AsOf), s.cat.DateTime(r.Until))
	spanZh := fmt.Sprintf("未来%d天（%s至%s）", r.Days, s.cat.DateTime(r.AsOf), s.cat.DateTime(r.Until))
	if r.Count == 0 {
		return fmt.Sprintf("No %s due %s %s.", what, where, span), fmt.Sprintf("%s%s没有待进行的%s。", spanZh, whereZh, whatZh)
	}
	var be, bz strings.Builder
	ke, kz := s.counts(r.ByKind, s.cat.kindNames, true)
	fmt.Fprintf(&be, "%d %s due %s %s: %s.", r.Count, what, where, span, ke)
	fmt.Fprintf(&bz, "%s%s共有%d次%s待进行：%s。", spanZh, whereZh, r.Count, whatZh, kz)
	if r.District == "" {
		de, dz := s.counts(r.ByDistrict, s.cat.DistrictNames, false)
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
		fmt.Fprintf(&be, "%d) %s %s of %s", i+1, s.cat.DateTime(row.ScheduledAt), row.KindName, row.PermitNum)
		fmt.Fprintf(&bz, "%d）%s %s，%s", i+1, s.cat.DateTime(row.ScheduledAt), row.KindNameZh, row.PermitNum)
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
