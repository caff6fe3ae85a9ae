package democity

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/permits"
)

// Drawing a permit's life: every value comes from the seed, the permit's
// day and its number that day, so the same permit is drawn the same way.

// drawPermitDay draws the applications of local day d: none at weekends.
func (c *City) drawPermitDay(d int64) []*permitRec {
	start := c.dayStart(d)
	if start.Weekday() == time.Saturday || start.Weekday() == time.Sunday {
		return nil
	}
	n := 6 + c.pick(9, domPermitCount, uint64(d))
	out := make([]*permitRec, 0, n)
	for k := range n {
		out = append(out, c.drawPermit(d, start, k))
	}
	return out
}

// weighted picks an index by weights with u in [0, 1).
func weighted(ws []float64, u float64) int {
	total := 0.0
	for _, w := range ws {
		total += w
	}
	u *= total
	for i, w := range ws {
		if u < w {
			return i
		}
		u -= w
	}
	return len(ws) - 1
}

// company names applicants and contractors.
var companies = [][2]string{
	{"城建集团第三工程公司", "City Construction Group No. 3 Engineering Co."},
	{"华远建筑工程有限公司", "Huayuan Construction Engineering Co., Ltd."},
	{"江城市政工程有限公司", "Jiangcheng Municipal Engineering Co., Ltd."},
	{"新源装饰工程有限公司", "Xinyuan Decoration Engineering Co., Ltd."},
	{"鸿达广告传媒有限公司", "Hongda Advertising Media Co., Ltd."},
	{"市供水集团管网公司", "City Water Supply Group, Network Company"},
	{"市燃气集团", "City Gas Group"},
	{"国网市供电公司", "State Grid City Power Supply Company"},
	{"中铁建设第五工程局", "China Railway Construction Bureau No. 5"},
	{"恒信建设发展有限公司", "Hengxin Construction and Development Co., Ltd."},
	{"安居装饰设计有限公司", "Anju Decoration and Design Co., Ltd."},
	{"联通市分公司", "China Unicom City Branch"},
}

func (c *City) drawPermit(d int64, start time.Time, k int) *permitRec {
	r := func(f uint64) float64 { return unit(c.hash(domPermit, uint64(d), uint64(k), f)) }
	st := &c.permits
	types := permitTypes()
	tws := make([]float64, len(types))
	for i, t := range types {
		tws[i] = t.weight
	}
	pt := types[weighted(tws, r(1))]
	di := weighted(pt.districts[:], r(2))
	segs := st.segsByDistrict[di]
	seg := &c.segments[segs[int(r(3)*float64(len(segs)))]]
	num := 1 + int(r(4)*388)
	applied := start.Add(9*time.Hour + time.Duration(int(r(5)*8*60))*time.Minute)

	p := permits.Permit{
		PermitNum:        fmt.Sprintf("BP-%s-%02d", start.Format("20060102"), k+1),
		PermitType:       pt.Code,
		PermitTypeDesc:   pt.NameEn,
		PermitTypeDescZh: pt.NameZh,
		AppliedDate:      applied,
		OriginalAddress1: fmt.Sprintf("%d %s", num, seg.RoadEn),
		AddressZh:        fmt.Sprintf("%s%d号", seg.RoadZh, num),
		District:         c.districts[di].ID,
	}
	co := companies[int(r(6)*float64(len(companies)))]
	p.ContractorCompanyName = co[1] + " " + co[0]

	// What the works are, what they cost and how long they take.
	w := permitWorks{c: c, p: &p, r: r, d: d, k: k, seg: seg, central: c.districts[di].central}
	var worksDays int
	risk := "C"
	switch pt.Code {
	case PermitBuilding:
		worksDays, risk = w.building()
	case PermitOccupation:
		worksDays = w.occupation()
	case PermitExcavation:
		worksDays = w.excavation()
	case PermitAdvertising:
		worksDays = w.advertising()
	default: // renovation
		worksDays = w.renovation()
	}
	p.RiskClass = risk

	rec := &permitRec{p: p}
	c.drawPermitLife(rec, d, k, pt, worksDays)
	return rec
}

// permitWorks draws the works of one permit by type: what they are, what
// they cost and how many days they take.
type permitWorks struct {
	c       *City
	p       *permits.Permit
	r       func(f uint64) float64
	d       int64
	k       int
	seg     *segment
	central bool // the district is a historic centre
}

func (w permitWorks) building() (worksDays int, risk string) {
	p, r := w.p, w.r
	p.WorkClass = []string{"New", "Addition", "Alteration"}[weighted([]float64{0.5, 0.2, 0.3}, r(10))]
	p.PermitClass = []string{"Residential", "Commercial", "Public"}[weighted([]float64{0.45, 0.4, 0.15}, r(11))]
	floors := 3 + int(r(12)*30)
	area := math.Round(800*math.Pow(75, r(13))/10) * 10
	p.AreaM2 = area
	p.EstProjectCost = math.Round(area*w.c.rnd(2600, 5200, domPermit, uint64(w.d), uint64(w.k), 14)/1000) * 1000
	uses := map[string][2]string{"Residential": {"residential building", "住宅楼"}, "Commercial": {"office and retail building", "商业办公楼"}, "Public": {"school and community building", "学校及社区用房"}}
	use, useZh := uses[p.PermitClass][0], uses[p.PermitClass][1]
	switch p.WorkClass {
	case "New":
		p.Description = fmt.Sprintf("New %d-storey %s, %s m² floor area.", floors, use, money(area))
		p.DescriptionZh = fmt.Sprintf("新建%d层%s，建筑面积%s平方米。", floors, useZh, money(area))
		worksDays = 240 + int(r(15)*300)
	case "Addition":
		p.Description = fmt.Sprintf("Extension of a %s, adding %s m².", use, money(area))
		p.DescriptionZh = fmt.Sprintf("%s扩建，新增建筑面积%s平方米。", useZh, money(area))
		worksDays = 120 + int(r(15)*180)
	default:
		p.Description = fmt.Sprintf("Structural alteration of a %s, %s m².", use, money(area))
		p.DescriptionZh = fmt.Sprintf("%s结构改造，涉及面积%s平方米。", useZh, money(area))
		worksDays = 60 + int(r(15)*120)
	}
	risk = "B"
	if r(16) < 0.35 {
		risk = "A"
		p.Description = strings.TrimSuffix(p.Description, ".") + "; deep foundation pit over 5 m."
		p.DescriptionZh = strings.TrimSuffix(p.DescriptionZh, "。") + "；深基坑开挖超过5米。"
	}
	return worksDays, risk
}

func (w permitWorks) occupation() (worksDays int) {
	p, r, seg := w.p, w.r, w.seg
	p.WorkClass, p.PermitClass = "Temporary", "Commercial"
	purpose := [][2]string{{"Scaffolding for façade works", "外立面施工搭设脚手架"}, {"Stacking building materials", "堆放建筑材料"},
		{"Mobile crane operation", "吊车作业"}, {"Temporary structure for a public event", "公共活动临时搭建"}}[int(r(10)*4)]
	area := math.Round(20 + r(11)*380)
	days := 7 + int(r(12)*84)
	rate := map[string]float64{"arterial": 8, "secondary": 5, "branch": 3}[seg.Class]
	mult := 1.0
	if w.central {
		mult = 1.5
	}
	p.AreaM2 = area
	p.SegmentID = seg.ID
	p.Fee = area * float64(days) * rate * mult
	p.FeeBasis = fmt.Sprintf("%s m² × %d days × %s yuan/m²/day (%s road)", money(area), days, money(rate), seg.Class)
	p.FeeBasisZh = fmt.Sprintf("%s平方米×%d天×%s元/平方米/天（%s）", money(area), days, money(rate), map[string]string{"arterial": "主干道", "secondary": "次干道", "branch": "支路"}[seg.Class])
	if mult > 1 {
		p.FeeBasis += " × 1.5 historic block"
		p.FeeBasisZh += "×1.5（历史街区）"
	}
	p.Description = fmt.Sprintf("%s on %s, %s m² for %d days.", purpose[0], seg.NameEn, money(area), days)
	p.DescriptionZh = fmt.Sprintf("%s%s，占用%s平方米，%d天。", seg.NameZh, purpose[1], money(area), days)
	return days
}

func (w permitWorks) excavation() (worksDays int) {
	p, r, seg := w.p, w.r, w.seg
	p.WorkClass, p.PermitClass = "Repair", "Utility"
	what := [][2]string{{"Water main connection", "供水管道接驳"}, {"Gas pipe repair", "燃气管道维修"},
		{"Power cable laying", "电力电缆敷设"}, {"Telecom duct installation", "通信管道铺设"}}[int(r(10)*4)]
	area := math.Round(6 + r(11)*114)
	asphalt := r(12) < 0.7
	rate, surface, surfaceZh := 600.0, "asphalt", "沥青路面"
	if !asphalt {
		rate, surface, surfaceZh = 450, "concrete footway", "混凝土人行道"
	}
	p.AreaM2 = area
	p.SegmentID = seg.ID
	p.Fee = area * rate
	p.FeeBasis = fmt.Sprintf("reinstatement deposit: %s m² %s × %s yuan/m²", money(area), surface, money(rate))
	p.FeeBasisZh = fmt.Sprintf("修复押金：%s平方米%s×%s元/平方米", money(area), surfaceZh, money(rate))
	p.Description = fmt.Sprintf("%s: excavating %s m² of %s on %s.", what[0], money(area), surface, seg.NameEn)
	p.DescriptionZh = fmt.Sprintf("%s：开挖%s%s平方米。", what[1], seg.NameZh, money(area))
	return 3 + int(r(13)*27)
}

func (w permitWorks) advertising() (worksDays int) {
	p, r := w.p, w.r
	p.WorkClass = []string{"New", "Alteration"}[weighted([]float64{0.6, 0.4}, r(10))]
	p.PermitClass = "Commercial"
	kind := [][2]string{{"Illuminated rooftop sign", "楼顶发光招牌"}, {"Wall-mounted billboard", "墙面广告牌"},
		{"Shop-front LED screen", "店面LED显示屏"}, {"Free-standing pylon sign", "立柱式广告牌"}}[int(r(11)*4)]
	area := math.Round(4 + r(12)*56)
	p.AreaM2 = area
	p.Description = fmt.Sprintf("%s, %s m².", kind[0], money(area))
	p.DescriptionZh = fmt.Sprintf("%s，面积%s平方米。", kind[1], money(area))
	if area > 10 {
		p.Description += " Structural safety certificate required."
		p.DescriptionZh += "须提供结构安全证明。"
	}
	return 3 + int(r(13)*12)
}

func (w permitWorks) renovation() (worksDays int) {
	p, r := w.p, w.r
	p.WorkClass = "Alteration"
	p.PermitClass = []string{"Residential", "Commercial"}[weighted([]float64{0.7, 0.3}, r(10))]
	area := math.Round(60 + r(11)*400)
	p.AreaM2 = area
	p.EstProjectCost = math.Round(area*w.c.rnd(600, 2000, domPermit, uint64(w.d), uint64(w.k), 12)/100) * 100
	if p.PermitClass == "Residential" {
		unitNo := fmt.Sprintf("%d%02d", 1+int(r(13)*28), 1+int(r(14)*6))
		p.Description = fmt.Sprintf("Interior renovation of flat %s, %s m².", unitNo, money(area))
		p.DescriptionZh = fmt.Sprintf("%s室室内装修，面积%s平方米。", unitNo, money(area))
	} else {
		p.Description = fmt.Sprintf("Interior fit-out of a shop, %s m².", money(area))
		p.DescriptionZh = fmt.Sprintf("商铺室内装修，面积%s平方米。", money(area))
	}
	return 20 + int(r(15)*70)
}

// permitLife draws one permit's history: review, decision, works and
// inspections, each step after the last.
type permitLife struct {
	c   *City
	rec *permitRec
	p   *permits.Permit
	r   func(f uint64) float64
	d   int64
	k   int
}

// at is hour (fractional) on day, in the city's time zone.
func (l *permitLife) at(day time.Time, hour float64) time.Time {
	y, m, dd := day.In(l.c.loc).Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, l.c.loc).Add(time.Duration(int(hour*60)) * time.Minute)
}

func (l *permitLife) add(t time.Time, status, note, noteZh string) {
	l.p.History = append(l.p.History, permits.StatusChange{At: t, Status: status, Mapped: l.c.permits.status[status].Mapped, Note: note, NoteZh: noteZh})
}

func (l *permitLife) last() time.Time { return l.p.History[len(l.p.History)-1].At }

// drawPermitLife draws review, decision, works and inspections.
func (c *City) drawPermitLife(rec *permitRec, d int64, k int, pt permitTypeInfo, worksDays int) {
	l := &permitLife{c: c, rec: rec, p: &rec.p, d: d, k: k,
		r: func(f uint64) float64 { return unit(c.hash(domPermit, uint64(d), uint64(k), 100+f)) }}
	l.add(l.p.AppliedDate, StatusReceived, "", "")
	decision := l.review(pt.TimeLimitDays)
	if l.endedUnissued(decision) {
		return
	}
	issued := l.issue(decision)
	works, ok := l.startWorks(pt, issued)
	if !ok {
		return
	}
	end := l.at(works.AddDate(0, 0, worksDays), 16)
	exp := end.AddDate(0, 0, 30)
	l.p.ExpiresDate = &exp
	rec.inspections = l.planInspections(works, end, issued)
	l.complete(end)
}

// review draws the review and returns when the decision falls. Processing
// time counts from the day a complete application is accepted: when
// documents were missing, from their resubmission.
func (l *permitLife) review(limit int) time.Time {
	p, r := l.p, l.r
	reviewStart := l.at(permits.AddWorkingDays(p.AppliedDate, 1), 9+r(5)*2.5)
	if limit == 1 && r(2) < 0.4 {
		reviewStart = p.AppliedDate.Add(30 * time.Minute) // same-day filing
	}
	l.add(reviewStart, StatusUnderReview, "", "")
	clockStart := p.AppliedDate
	if r(3) < 0.14 {
		asked := l.at(permits.AddWorkingDays(reviewStart, int(r(4)*2)), 14+r(6)*2)
		if !asked.After(reviewStart) {
			asked = reviewStart.Add(2 * time.Hour)
		}
		l.add(asked, StatusDocsRequired, "", "")
		clockStart = l.at(permits.AddWorkingDays(asked, 2+int(r(7)*14)), 9.5+r(8)*6)
		l.add(clockStart, StatusUnderReview, "documents received, review resumed", "补正材料已提交，恢复审查")
	}
	w := 1 + int(r(1)*float64(limit))
	w = min(w, limit)
	if r(9) < 0.12 {
		w = limit + 1 + int(r(17)*4) // over the time limit
	}
	decision := l.at(permits.AddWorkingDays(clockStart, w), 10+r(18)*6)
	if reviewStart.Sub(p.AppliedDate) < time.Hour && clockStart.Equal(p.AppliedDate) && w == 1 && r(19) < 0.5 {
		decision = reviewStart.Add(90 * time.Minute) // filed and done the same day
	}
	if last := l.last(); !decision.After(last) {
		decision = last.Add(time.Hour)
	}
	if !clockStart.Equal(p.AppliedDate) {
		d := float64(permits.WorkingDaysBetween(clockStart, decision, l.c.loc))
		p.ProcessingDays = &d
	}
	return decision
}

// endedUnissued draws whether the application is withdrawn or refused, and
// reports whether it was.
func (l *permitLife) endedUnissued(decision time.Time) bool {
	switch u := l.r(10); {
	case u < 0.03:
		wd := l.at(permits.AddWorkingDays(l.p.AppliedDate, 1+int(l.r(11)*3)), 11)
		if !wd.After(l.last()) {
			wd = l.last().Add(time.Hour)
		}
		l.add(wd, StatusWithdrawn, "withdrawn by the applicant", "申请人撤回申请")
		return true
	case u < 0.08:
		l.add(decision, StatusRefused, "refused: documents do not meet the requirements", "不予许可：申请材料不符合要求")
		return true
	}
	return false
}

// issue approves (when a fee is due) and issues the permit; it returns
// when it was issued.
func (l *permitLife) issue(decision time.Time) time.Time {
	if l.p.Fee > 0 {
		approved := decision.Add(-time.Duration(2+int(l.r(12)*20)) * time.Hour)
		if !approved.After(l.last()) {
			approved = l.last().Add(30 * time.Minute)
			decision = approved.Add(90 * time.Minute)
		}
		l.add(approved, StatusApproved, "", "")
	}
	l.rec.issued = decision
	issued := decision
	l.p.IssuedDate = &issued
	l.add(decision, StatusIssued, "", "")
	return issued
}

// startWorks draws when works start; building permits lapse (ok false) if
// works do not start within 3 months.
func (l *permitLife) startWorks(pt permitTypeInfo, issued time.Time) (works time.Time, ok bool) {
	startDelay := int(l.r(13) * 5)
	if pt.Code == PermitBuilding {
		if l.r(14) < 0.06 {
			exp := issued.AddDate(0, 3, 0)
			l.add(exp, StatusExpired, "lapsed: works did not start within 3 months", "逾期未开工，许可失效")
			return time.Time{}, false
		}
		startDelay = 5 + int(l.r(15)*75)
	}
	startDay := issued.AddDate(0, 0, startDelay)
	if startDelay == 0 {
		startDay = issued
	}
	works = l.at(startDay, 8)
	if !works.After(issued) {
		works = issued.Add(time.Hour)
	}
	l.add(works, StatusUnderway, "", "")
	return works, true
}

// planInspections draws the supervision plan: a first inspection within 7
// days of the start, routine ones by risk class, re-inspections after
// problems, and the final inspection at the end of works.
func (l *permitLife) planInspections(works, end, issued time.Time) []plannedInspection {
	pl := inspectionPlan{l: l, end: end}
	pl.draw(InspectFirst, works.AddDate(0, 0, 1+int(l.r(16)*6)), issued, false)
	every := map[string]int{"A": 14, "B": 30, "C": 90}[l.p.RiskClass]
	for t := works.AddDate(0, 0, every); t.Before(end.AddDate(0, 0, -3)); t = t.AddDate(0, 0, every-3+int(unit(l.c.hash(domInspection, uint64(l.d), uint64(l.k), uint64(t.Unix())))*7)) {
		pl.draw(InspectRoutine, t, issued, false)
	}
	pl.draw(InspectFinal, end.Add(-6*time.Hour), issued, false)
	plan := pl.plan
	slices.SortStableFunc(plan, func(a, b plannedInspection) int { return a.ScheduledAt.Compare(b.ScheduledAt) })
	for i := range plan {
		plan[i].ID = fmt.Sprintf("%s-I%02d", l.p.PermitNum, i+1)
	}
	return plan
}

// inspectionPlan collects the inspections of one permit as they are drawn.
type inspectionPlan struct {
	l    *permitLife
	end  time.Time
	seq  uint64
	plan []plannedInspection
}

// draw draws one inspection's slot and result, and a re-inspection after a
// problem when it falls before the end of works (always after the final).
func (pl *inspectionPlan) draw(kind string, when time.Time, known time.Time, reinspect bool) {
	pl.seq++
	p, seq := pl.l.p, pl.seq
	ri := func(f uint64) float64 {
		return unit(pl.l.c.hash(domInspection, uint64(pl.l.d), uint64(pl.l.k), seq, f))
	}
	when = workingSlot(when, ri(1))
	res := inspectionResult(kind, reinspect, ri(2))
	in := permits.Inspection{PermitNum: p.PermitNum, Kind: kind, Status: permits.InspectionDone, ScheduledAt: when,
		Result: res, District: p.District, RiskClass: p.RiskClass, ScheduledBy: "plan"}
	in.Notes, in.NotesZh = inspectionNotes(res)
	pl.plan = append(pl.plan, plannedInspection{Inspection: in, known: known})
	if reinspect || res == permits.ResultPassed {
		return
	}
	// Re-inspection within 3 working days after the rectification deadline.
	deadline := map[string]int{permits.ResultMinor: 7, permits.ResultMajor: 3, permits.ResultSerious: 0}[res]
	re := permits.AddWorkingDays(when.AddDate(0, 0, deadline), 1+int(ri(3)*3))
	if kind == InspectFinal || re.Before(pl.end) {
		pl.draw(InspectReinspect, re, when, true)
	}
}

// inspectionResult maps the draw u to an inspection's result.
func inspectionResult(kind string, reinspect bool, u float64) string {
	res := permits.ResultPassed
	switch {
	case kind == InspectFinal:
		if u < 0.08 {
			res = permits.ResultMinor
		}
	case reinspect:
		if u < 0.1 {
			res = permits.ResultMinor
		}
	case u < 0.02:
		res = permits.ResultSerious
	case u < 0.08:
		res = permits.ResultMajor
	case u < 0.24:
		res = permits.ResultMinor
	}
	return res
}

// complete closes the permit once works end and the last inspection is done.
func (l *permitLife) complete(end time.Time) {
	last := l.rec.inspections[len(l.rec.inspections)-1].ScheduledAt
	done := end
	if last.After(done) {
		done = l.at(last, 17)
	}
	l.rec.completed = done
	completed := done
	l.p.CompletedDate = &completed
	l.add(done, StatusCompleted, "final inspection passed", "竣工检查合格")
}

// workingSlot moves t to a working day, at a half-hour slot from 09:00 to 15:30.
func workingSlot(t time.Time, u float64) time.Time {
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 9, 0, 0, 0, t.Location()).Add(time.Duration(int(u*14)) * 30 * time.Minute)
}

func inspectionNotes(res string) (en, zh string) {
	switch res {
	case permits.ResultMinor:
		return "minor issues (signage, records): rectify within 7 days", "一般问题（标识、资料不全）：7日内整改"
	case permits.ResultMajor:
		return "major hazard (hoarding or edge protection missing): rectify within 3 days", "较大隐患（围挡或临边防护缺失）：3日内整改"
	case permits.ResultSerious:
		return "serious hazard: works stopped, reported to the Housing and Construction Bureau", "重大隐患：责令停工，报市住建局"
	}
	return "no problems found", "未发现问题"
}
