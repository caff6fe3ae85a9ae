package democity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/tools/permits"
)

// The permit register. Applications arrive on working days, six to fourteen
// a day, and each one's whole life — review, documents, fees, issue, works,
// inspections, completion — is drawn from the seed and its day when that day
// is first needed. The register holds the applications of the last two
// years; reading it at a time shows every permit as it stood then, so the
// register moves with the clock. What approved actions add (review flags,
// booked inspections) lives in permitState.

// PermitsSourceName is how the city's permit register is cited.
const PermitsSourceName = "democity:permits"

// PermitWindowDays is how far back the register reaches.
const PermitWindowDays = 730

// Hash domains of the permit register, apart from the traffic ones.
const (
	domPermitCount uint64 = 101 + iota
	domPermit
	domInspection
)

// Permit types, as the city's Permit Guide names them.
const (
	PermitBuilding    = "building"
	PermitOccupation  = "road_occupation"
	PermitExcavation  = "road_excavation"
	PermitAdvertising = "outdoor_advertising"
	PermitRenovation  = "renovation"
)

// Permit statuses (StatusCurrent), as the Permit Guide lists them.
const (
	StatusReceived      = "received"
	StatusUnderReview   = "under_review"
	StatusDocsRequired  = "documents_required"
	StatusApproved      = "approved"
	StatusIssued        = "issued"
	StatusUnderway      = "under_construction"
	StatusCompleted     = "completed"
	StatusRefused       = "refused"
	StatusWithdrawn     = "withdrawn"
	StatusExpired       = "expired"
	inspectionKindFirst = "first"
)

// Inspection kinds.
const (
	InspectFirst     = inspectionKindFirst
	InspectRoutine   = "routine"
	InspectReinspect = "reinspection"
	InspectFinal     = "final"
	InspectComplaint = "complaint"
)

// ErrInvalidRequest wraps an action request the city refuses: a permit in
// the wrong state, a time outside the allowed window, an empty reason.
var ErrInvalidRequest = errors.New("democity: invalid request")

type permitTypeInfo struct {
	permits.PermitType
	weight    float64
	districts [6]float64 // weight per district, in newDistricts order
}

func permitTypes() []permitTypeInfo {
	// dongcheng, xicheng, nanhu, beian, gaoxin, binjiang
	return []permitTypeInfo{
		{permits.PermitType{Code: PermitBuilding, NameEn: "Building construction permit", NameZh: "建筑工程施工许可", TimeLimitDays: 7}, 0.2, [6]float64{0.6, 0.7, 1.2, 1.0, 1.8, 1.2}},
		{permits.PermitType{Code: PermitOccupation, NameEn: "Road occupation permit", NameZh: "临时占用道路许可", TimeLimitDays: 5}, 0.24, [6]float64{1.4, 1.3, 0.8, 0.9, 1.0, 1.1}},
		{permits.PermitType{Code: PermitExcavation, NameEn: "Road excavation permit", NameZh: "城市道路挖掘许可", TimeLimitDays: 5}, 0.18, [6]float64{1.1, 1.1, 0.9, 1.0, 1.1, 0.9}},
		{permits.PermitType{Code: PermitAdvertising, NameEn: "Outdoor advertising permit", NameZh: "户外广告设置许可", TimeLimitDays: 10}, 0.12, [6]float64{0.9, 1.2, 0.7, 0.5, 0.9, 1.6}},
		{permits.PermitType{Code: PermitRenovation, NameEn: "Interior renovation filing", NameZh: "装饰装修备案", TimeLimitDays: 1}, 0.26, [6]float64{1.3, 1.2, 1.3, 0.8, 0.8, 1.0}},
	}
}

func permitStatuses() []permits.Status {
	return []permits.Status{
		{Code: StatusReceived, NameEn: "received", NameZh: "已受理", Mapped: permits.MappedAccepted, Open: true},
		{Code: StatusUnderReview, NameEn: "under review", NameZh: "审查中", Mapped: permits.MappedInReview, Open: true},
		{Code: StatusDocsRequired, NameEn: "additional documents required", NameZh: "补正材料", Mapped: permits.MappedInReview, Open: true},
		{Code: StatusApproved, NameEn: "approved, fees due", NameZh: "已批准待缴费", Mapped: permits.MappedFees, Open: true},
		{Code: StatusIssued, NameEn: "issued", NameZh: "已发证", Mapped: permits.MappedIssued},
		{Code: StatusUnderway, NameEn: "works under way", NameZh: "施工中", Mapped: permits.MappedInspect},
		{Code: StatusCompleted, NameEn: "completed", NameZh: "已竣工", Mapped: permits.MappedFinaled},
		{Code: StatusRefused, NameEn: "refused", NameZh: "不予许可", Mapped: permits.MappedCancelled},
		{Code: StatusWithdrawn, NameEn: "withdrawn", NameZh: "已撤回", Mapped: permits.MappedCancelled},
		{Code: StatusExpired, NameEn: "expired", NameZh: "已失效", Mapped: permits.MappedCancelled},
	}
}

func inspectionKinds() []permits.Kind {
	return []permits.Kind{
		{Code: InspectFirst, NameEn: "first inspection", NameZh: "首次检查"},
		{Code: InspectRoutine, NameEn: "routine inspection", NameZh: "日常检查"},
		{Code: InspectReinspect, NameEn: "re-inspection", NameZh: "整改复查"},
		{Code: InspectFinal, NameEn: "final inspection", NameZh: "竣工检查"},
		{Code: InspectComplaint, NameEn: "complaint follow-up", NameZh: "投诉跟进核查"},
	}
}

// permitRec is a permit's whole drawn life: every status change and every
// planned inspection, future ones included. Views at a time cut it there.
type permitRec struct {
	p           permits.Permit // History and Inspections complete
	issued      time.Time      // zero when never issued
	completed   time.Time
	inspections []plannedInspection
}

// plannedInspection is an inspection of the supervision plan and the moment
// it becomes known: when the permit is issued, or when the inspection that
// calls for it is done.
type plannedInspection struct {
	permits.Inspection
	known time.Time
}

// permitState is the register's cache of drawn days and what actions changed.
type permitState struct {
	mu     sync.Mutex
	days   map[int64][]*permitRec
	status map[string]permits.Status
	types  map[string]permitTypeInfo
	kinds  map[string]permits.Kind
	// segsByDistrict lists the non-expressway segments of each district, for addresses.
	segsByDistrict [][]int

	flags  map[string]permitFlag
	booked map[string][]booking // operator-booked inspections by permit
}

// booking is an inspection an approved action booked, and when.
type booking struct {
	in permits.Inspection
	at time.Time
}

type permitFlag struct {
	reason string
	at     time.Time
}

func (c *City) buildPermits() {
	st := &c.permits
	st.days = map[int64][]*permitRec{}
	st.status = map[string]permits.Status{}
	for _, s := range permitStatuses() {
		st.status[s.Code] = s
	}
	st.types = map[string]permitTypeInfo{}
	for _, t := range permitTypes() {
		st.types[t.Code] = t
	}
	st.kinds = map[string]permits.Kind{}
	for _, k := range inspectionKinds() {
		st.kinds[k.Code] = k
	}
	st.segsByDistrict = make([][]int, len(c.districts))
	for i, s := range c.segments {
		if s.Class != "expressway" {
			st.segsByDistrict[s.district] = append(st.segsByDistrict[s.district], i)
		}
	}
	st.flags = map[string]permitFlag{}
	st.booked = map[string][]booking{}
}

// PermitsInfo implements permits.Source's Info.
func (c *City) Info() permits.Info {
	info := permits.Info{Source: PermitsSourceName, CityZh: CityZh, CityEn: CityEn, Location: c.loc,
		PermitIDPattern: `^BP-\d{8}-\d{2}$`, Statuses: permitStatuses(), InspectionKinds: inspectionKinds()}
	for _, d := range c.districts {
		info.Districts = append(info.Districts, permits.District{ID: d.ID, NameZh: d.NameZh, NameEn: d.NameEn})
	}
	for _, t := range permitTypes() {
		info.Types = append(info.Types, t.PermitType)
	}
	return info
}

var _ permits.Source = (*City)(nil)
var _ permits.InspectionSource = (*City)(nil)

func (c *City) dayStart(d int64) time.Time {
	return time.Unix(d*24*60*60-utcOffset, 0).In(c.loc)
}

// permitDay returns the permits applied for on local day d, drawing them
// the first time.
func (c *City) permitDay(d int64) []*permitRec {
	st := &c.permits
	st.mu.Lock()
	recs, ok := st.days[d]
	st.mu.Unlock()
	if ok {
		return recs
	}
	recs = c.drawPermitDay(d)
	st.mu.Lock()
	if prev, ok := st.days[d]; ok {
		recs = prev
	} else {
		st.days[d] = recs
	}
	st.mu.Unlock()
	return recs
}

// permitRecs returns the permits in the register at t: applied within the
// window and by t, oldest first.
func (c *City) permitRecs(t time.Time) []*permitRec {
	var out []*permitRec
	last := dayIndex(t)
	for d := last - PermitWindowDays + 1; d <= last; d++ {
		for _, r := range c.permitDay(d) {
			if !r.p.AppliedDate.After(t) {
				out = append(out, r)
			}
		}
	}
	return out
}

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
	var worksDays int
	risk := "C"
	switch pt.Code {
	case PermitBuilding:
		p.WorkClass = []string{"New", "Addition", "Alteration"}[weighted([]float64{0.5, 0.2, 0.3}, r(10))]
		p.PermitClass = []string{"Residential", "Commercial", "Public"}[weighted([]float64{0.45, 0.4, 0.15}, r(11))]
		floors := 3 + int(r(12)*30)
		area := math.Round(800*math.Pow(75, r(13))/10) * 10
		p.AreaM2 = area
		p.EstProjectCost = math.Round(area*c.rnd(2600, 5200, domPermit, uint64(d), uint64(k), 14)/1000) * 1000
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
	case PermitOccupation:
		p.WorkClass, p.PermitClass = "Temporary", "Commercial"
		purpose := [][2]string{{"Scaffolding for façade works", "外立面施工搭设脚手架"}, {"Stacking building materials", "堆放建筑材料"},
			{"Mobile crane operation", "吊车作业"}, {"Temporary structure for a public event", "公共活动临时搭建"}}[int(r(10)*4)]
		area := math.Round(20 + r(11)*380)
		days := 7 + int(r(12)*84)
		rate := map[string]float64{"arterial": 8, "secondary": 5, "branch": 3}[seg.Class]
		mult := 1.0
		if c.districts[di].central {
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
		worksDays = days
	case PermitExcavation:
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
		worksDays = 3 + int(r(13)*27)
	case PermitAdvertising:
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
		worksDays = 3 + int(r(13)*12)
	default: // renovation
		p.WorkClass = "Alteration"
		p.PermitClass = []string{"Residential", "Commercial"}[weighted([]float64{0.7, 0.3}, r(10))]
		area := math.Round(60 + r(11)*400)
		p.AreaM2 = area
		p.EstProjectCost = math.Round(area*c.rnd(600, 2000, domPermit, uint64(d), uint64(k), 12)/100) * 100
		if p.PermitClass == "Residential" {
			unitNo := fmt.Sprintf("%d%02d", 1+int(r(13)*28), 1+int(r(14)*6))
			p.Description = fmt.Sprintf("Interior renovation of flat %s, %s m².", unitNo, money(area))
			p.DescriptionZh = fmt.Sprintf("%s室室内装修，面积%s平方米。", unitNo, money(area))
		} else {
			p.Description = fmt.Sprintf("Interior fit-out of a shop, %s m².", money(area))
			p.DescriptionZh = fmt.Sprintf("商铺室内装修，面积%s平方米。", money(area))
		}
		worksDays = 20 + int(r(15)*70)
	}
	p.RiskClass = risk

	rec := &permitRec{p: p}
	c.drawPermitLife(rec, d, k, pt, worksDays)
	return rec
}

// drawPermitLife draws review, decision, works and inspections.
func (c *City) drawPermitLife(rec *permitRec, d int64, k int, pt permitTypeInfo, worksDays int) {
	r := func(f uint64) float64 { return unit(c.hash(domPermit, uint64(d), uint64(k), 100+f)) }
	p := &rec.p
	limit := pt.TimeLimitDays
	at := func(day time.Time, hour float64) time.Time {
		y, m, dd := day.In(c.loc).Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, c.loc).Add(time.Duration(int(hour*60)) * time.Minute)
	}
	add := func(t time.Time, status, note, noteZh string) {
		p.History = append(p.History, permits.StatusChange{At: t, Status: status, Mapped: c.permits.status[status].Mapped, Note: note, NoteZh: noteZh})
	}
	add(p.AppliedDate, StatusReceived, "", "")

	// Review. Processing time counts from the day a complete application
	// is accepted: when documents were missing, from their resubmission.
	reviewStart := at(permits.AddWorkingDays(p.AppliedDate, 1), 9+r(5)*2.5)
	if limit == 1 && r(2) < 0.4 {
		reviewStart = p.AppliedDate.Add(30 * time.Minute) // same-day filing
	}
	add(reviewStart, StatusUnderReview, "", "")
	clockStart := p.AppliedDate
	if r(3) < 0.14 {
		asked := at(permits.AddWorkingDays(reviewStart, int(r(4)*2)), 14+r(6)*2)
		if !asked.After(reviewStart) {
			asked = reviewStart.Add(2 * time.Hour)
		}
		add(asked, StatusDocsRequired, "", "")
		clockStart = at(permits.AddWorkingDays(asked, 2+int(r(7)*14)), 9.5+r(8)*6)
		add(clockStart, StatusUnderReview, "documents received, review resumed", "补正材料已提交，恢复审查")
	}
	w := 1 + int(r(1)*float64(limit))
	w = min(w, limit)
	if r(9) < 0.12 {
		w = limit + 1 + int(r(17)*4) // over the time limit
	}
	decision := at(permits.AddWorkingDays(clockStart, w), 10+r(18)*6)
	if reviewStart.Sub(p.AppliedDate) < time.Hour && clockStart.Equal(p.AppliedDate) && w == 1 && r(19) < 0.5 {
		decision = reviewStart.Add(90 * time.Minute) // filed and done the same day
	}
	if last := p.History[len(p.History)-1].At; !decision.After(last) {
		decision = last.Add(time.Hour)
	}
	if !clockStart.Equal(p.AppliedDate) {
		d := float64(permits.WorkingDaysBetween(clockStart, decision, c.loc))
		p.ProcessingDays = &d
	}

	switch u := r(10); {
	case u < 0.03:
		wd := at(permits.AddWorkingDays(p.AppliedDate, 1+int(r(11)*3)), 11)
		if !wd.After(p.History[len(p.History)-1].At) {
			wd = p.History[len(p.History)-1].At.Add(time.Hour)
		}
		add(wd, StatusWithdrawn, "withdrawn by the applicant", "申请人撤回申请")
		return
	case u < 0.08:
		add(decision, StatusRefused, "refused: documents do not meet the requirements", "不予许可：申请材料不符合要求")
		return
	}
	if p.Fee > 0 {
		approved := decision.Add(-time.Duration(2+int(r(12)*20)) * time.Hour)
		if !approved.After(p.History[len(p.History)-1].At) {
			approved = p.History[len(p.History)-1].At.Add(30 * time.Minute)
			decision = approved.Add(90 * time.Minute)
		}
		add(approved, StatusApproved, "", "")
	}
	rec.issued = decision
	issued := decision
	p.IssuedDate = &issued
	add(decision, StatusIssued, "", "")

	// Works: building permits lapse if works do not start within 3 months.
	startDelay := int(r(13) * 5)
	if pt.Code == PermitBuilding {
		if r(14) < 0.06 {
			exp := issued.AddDate(0, 3, 0)
			add(exp, StatusExpired, "lapsed: works did not start within 3 months", "逾期未开工，许可失效")
			return
		}
		startDelay = 5 + int(r(15)*75)
	}
	startDay := issued.AddDate(0, 0, startDelay)
	if startDelay == 0 {
		startDay = issued
	}
	works := at(startDay, 8)
	if !works.After(issued) {
		works = issued.Add(time.Hour)
	}
	add(works, StatusUnderway, "", "")
	end := at(works.AddDate(0, 0, worksDays), 16)
	exp := end.AddDate(0, 0, 30)
	p.ExpiresDate = &exp

	// The supervision plan: a first inspection within 7 days of the start,
	// routine ones by risk class, re-inspections after problems, and the
	// final inspection at the end of works.
	var plan []plannedInspection
	seq := uint64(0)
	var draw func(kind string, when time.Time, known time.Time, reinspect bool)
	draw = func(kind string, when time.Time, known time.Time, reinspect bool) {
		seq++
		ri := func(f uint64) float64 { return unit(c.hash(domInspection, uint64(d), uint64(k), seq, f)) }
		when = workingSlot(when, ri(1))
		res := permits.ResultPassed
		u := ri(2)
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
		in := permits.Inspection{PermitNum: p.PermitNum, Kind: kind, Status: permits.InspectionDone, ScheduledAt: when,
			Result: res, District: p.District, RiskClass: p.RiskClass, ScheduledBy: "plan"}
		in.Notes, in.NotesZh = inspectionNotes(res)
		plan = append(plan, plannedInspection{Inspection: in, known: known})
		if reinspect || res == permits.ResultPassed {
			return
		}
		// Re-inspection within 3 working days after the rectification deadline.
		deadline := map[string]int{permits.ResultMinor: 7, permits.ResultMajor: 3, permits.ResultSerious: 0}[res]
		re := permits.AddWorkingDays(when.AddDate(0, 0, deadline), 1+int(ri(3)*3))
		if kind == InspectFinal || re.Before(end) {
			draw(InspectReinspect, re, when, true)
		}
	}
	draw(InspectFirst, works.AddDate(0, 0, 1+int(r(16)*6)), issued, false)
	every := map[string]int{"A": 14, "B": 30, "C": 90}[p.RiskClass]
	for t := works.AddDate(0, 0, every); t.Before(end.AddDate(0, 0, -3)); t = t.AddDate(0, 0, every-3+int(unit(c.hash(domInspection, uint64(d), uint64(k), uint64(t.Unix())))*7)) {
		draw(InspectRoutine, t, issued, false)
	}
	draw(InspectFinal, end.Add(-6*time.Hour), issued, false)
	slices.SortStableFunc(plan, func(a, b plannedInspection) int { return a.ScheduledAt.Compare(b.ScheduledAt) })
	for i := range plan {
		plan[i].ID = fmt.Sprintf("%s-I%02d", p.PermitNum, i+1)
	}
	rec.inspections = plan
	last := plan[len(plan)-1].ScheduledAt
	done := end
	if last.After(done) {
		done = at(last, 17)
	}
	rec.completed = done
	completed := done
	p.CompletedDate = &completed
	add(done, StatusCompleted, "final inspection passed", "竣工检查合格")
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

// view cuts a permit's life at t and applies what actions changed.
// Callers hold no lock; it takes permits.mu for the overrides.
func (c *City) view(rec *permitRec, t time.Time, withDetail bool) permits.Permit {
	p := rec.p
	i := 1 // the application itself, even if asked about a moment before it
	for i < len(p.History) && !p.History[i].At.After(t) {
		i++
	}
	hist := p.History[:i]
	cur := hist[len(hist)-1]
	p.StatusCurrent, p.StatusCurrentMapped, p.StatusDate = cur.Status, cur.Mapped, cur.At
	if rec.issued.IsZero() || rec.issued.After(t) {
		p.IssuedDate, p.ExpiresDate, p.ProcessingDays = nil, nil, nil
	} else {
		p.FeePaid = p.Fee > 0
	}
	if rec.completed.IsZero() || rec.completed.After(t) {
		p.CompletedDate = nil
	}
	st := &c.permits
	st.mu.Lock()
	flag, flagged := st.flags[p.PermitNum]
	booked := st.booked[p.PermitNum]
	st.mu.Unlock()
	if flagged && !flag.at.After(t) {
		p.Flagged, p.FlagReason = true, flag.reason
	}
	p.History, p.Inspections = nil, nil
	if !withDetail {
		return p
	}
	p.History = slices.Clone(hist)
	if flagged && !flag.at.After(t) {
		p.History = append(p.History, permits.StatusChange{At: flag.at, Status: p.StatusCurrent, Mapped: p.StatusCurrentMapped,
			Note: "flagged for review: " + flag.reason, NoteZh: "标记复核：" + flag.reason})
	}
	for _, b := range booked {
		if b.at.After(t) {
			continue
		}
		ke, kz := st.kinds[b.in.Kind].NameEn, st.kinds[b.in.Kind].NameZh
		when := b.in.ScheduledAt.In(c.loc).Format("2006-01-02 15:04")
		p.History = append(p.History, permits.StatusChange{At: b.at, Status: p.StatusCurrent, Mapped: p.StatusCurrentMapped,
			Note: fmt.Sprintf("%s booked for %s (%s)", ke, when, b.in.ID), NoteZh: fmt.Sprintf("已预约%s %s（%s）", when, kz, b.in.ID)})
	}
	slices.SortStableFunc(p.History, func(a, b permits.StatusChange) int { return a.At.Compare(b.At) })
	p.Inspections = c.inspectionsAt(rec, t, booked)
	return p
}

// inspectionsAt lists the inspections of rec known at t, done or scheduled.
func (c *City) inspectionsAt(rec *permitRec, t time.Time, booked []booking) []permits.Inspection {
	var out []permits.Inspection
	if rec.issued.IsZero() || rec.issued.After(t) {
		return append(out, bookedView(booked, t)...)
	}
	for _, pi := range rec.inspections {
		if pi.known.After(t) {
			continue
		}
		in := pi.Inspection
		if in.ScheduledAt.After(t) {
			in.Status, in.Result, in.Notes, in.NotesZh = permits.InspectionScheduled, "", "", ""
		} else {
			done := in.ScheduledAt.Add(90 * time.Minute)
			in.DoneAt = &done
		}
		out = append(out, in)
	}
	out = append(out, bookedView(booked, t)...)
	slices.SortStableFunc(out, func(a, b permits.Inspection) int { return a.ScheduledAt.Compare(b.ScheduledAt) })
	return out
}

// bookedView shows operator-booked inspections at t: scheduled until their
// time, then done with their record still to be entered.
func bookedView(booked []booking, t time.Time) []permits.Inspection {
	var out []permits.Inspection
	for _, b := range booked {
		if b.at.After(t) {
			continue
		}
		in := b.in
		if !in.ScheduledAt.After(t) {
			in.Status = permits.InspectionDone
			in.Notes, in.NotesZh = "inspection record to be entered", "检查记录待录入"
		}
		out = append(out, in)
	}
	return out
}

// Search implements permits.Source over the register as it stands at q.AsOf
// (zero: the simulated now).
func (c *City) Search(ctx context.Context, q permits.Query) (permits.Page, error) {
	if err := ctx.Err(); err != nil {
		return permits.Page{}, err
	}
	at := q.AsOf
	if at.IsZero() {
		at = c.clock()
	}
	text := strings.ToLower(strings.TrimSpace(q.Text))
	st := &c.permits
	var hits []*permitRec
	var views []permits.Permit
	for _, rec := range c.permitRecs(at) {
		p := &rec.p
		if (q.District != "" && p.District != q.District) || (q.PermitType != "" && p.PermitType != q.PermitType) ||
			(q.WorkClass != "" && !strings.EqualFold(p.WorkClass, q.WorkClass)) ||
			(!q.AppliedFrom.IsZero() && p.AppliedDate.Before(q.AppliedFrom)) || (!q.AppliedTo.IsZero() && !p.AppliedDate.Before(q.AppliedTo)) {
			continue
		}
		if !q.IssuedFrom.IsZero() || !q.IssuedTo.IsZero() {
			if rec.issued.IsZero() || rec.issued.After(at) || (!q.IssuedFrom.IsZero() && rec.issued.Before(q.IssuedFrom)) ||
				(!q.IssuedTo.IsZero() && !rec.issued.Before(q.IssuedTo)) {
				continue
			}
		}
		if text != "" && !strings.Contains(strings.ToLower(p.PermitNum+" "+p.Description+" "+p.DescriptionZh+" "+p.OriginalAddress1+" "+
			p.AddressZh+" "+p.ContractorCompanyName+" "+p.SegmentID), text) {
			continue
		}
		v := c.view(rec, at, false)
		if (q.Status != "" && v.StatusCurrent != q.Status) || (q.Open && !st.status[v.StatusCurrent].Open) || (q.Flagged && !v.Flagged) {
			continue
		}
		hits = append(hits, rec)
		views = append(views, v)
	}
	idx := make([]int, len(hits))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		pa, pb := &views[a], &views[b]
		switch q.OrderBy {
		case permits.OrderAppliedAsc:
			if d := pa.AppliedDate.Compare(pb.AppliedDate); d != 0 {
				return d
			}
			return cmp.Compare(pa.PermitNum, pb.PermitNum)
		case permits.OrderIssuedDesc:
			ia, ib := hits[a].issued, hits[b].issued
			if d := ib.Compare(ia); d != 0 {
				return d
			}
		}
		if d := pb.AppliedDate.Compare(pa.AppliedDate); d != 0 {
			return d
		}
		return cmp.Compare(pb.PermitNum, pa.PermitNum)
	})
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	page := permits.Page{Total: len(hits), Permits: []permits.Permit{}}
	for _, i := range idx[min(q.Offset, len(idx)):min(q.Offset+limit, len(idx))] {
		page.Permits = append(page.Permits, views[i])
	}
	return page, nil
}

// findPermit regenerates the permit named by id ("BP-20250603-04").
func (c *City) findPermit(id string) (*permitRec, error) {
	notFound := fmt.Errorf("democity: permit %q: %w", id, permits.ErrNotFound)
	rest, ok := strings.CutPrefix(id, "BP-")
	if !ok || len(rest) != 11 || rest[8] != '-' {
		return nil, notFound
	}
	day, err := time.ParseInLocation("20060102", rest[:8], c.loc)
	if err != nil {
		return nil, notFound
	}
	for _, rec := range c.permitDay(dayIndex(day)) {
		if rec.p.PermitNum == id {
			return rec, nil
		}
	}
	return nil, notFound
}

// permitAt returns the permit with id as the register shows it at t.
func (c *City) permitAt(id string, t time.Time) (*permitRec, error) {
	rec, err := c.findPermit(id)
	if err != nil {
		return nil, err
	}
	if rec.p.AppliedDate.After(t) || dayIndex(rec.p.AppliedDate) <= dayIndex(t)-PermitWindowDays {
		return nil, fmt.Errorf("democity: permit %q not in the register at %s: %w", id, t.In(c.loc).Format("2006-01-02"), permits.ErrNotFound)
	}
	return rec, nil
}

// Permit implements permits.Source: the permit as it stands now, with its
// history and inspections.
func (c *City) Permit(ctx context.Context, id string) (permits.Permit, error) {
	if err := ctx.Err(); err != nil {
		return permits.Permit{}, err
	}
	return c.PermitAt(id, c.clock())
}

// PermitAt returns the permit with id as it stood at t.
func (c *City) PermitAt(id string, t time.Time) (permits.Permit, error) {
	rec, err := c.permitAt(id, t)
	if err != nil {
		return permits.Permit{}, err
	}
	return c.view(rec, t, true), nil
}

// PermitsAt returns every permit in the register at t, oldest first,
// without history or inspections.
func (c *City) PermitsAt(t time.Time) []permits.Permit {
	recs := c.permitRecs(t)
	out := make([]permits.Permit, len(recs))
	for i, rec := range recs {
		out[i] = c.view(rec, t, false)
	}
	return out
}

// Inspections implements permits.InspectionSource: inspections known now
// and scheduled in [from, to), done or not, soonest first.
func (c *City) Inspections(ctx context.Context, from, to time.Time) ([]permits.Inspection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.InspectionsBetween(from, to, c.clock()), nil
}

// InspectionsBetween lists the inspections scheduled in [from, to) as the
// register knows them at asOf.
func (c *City) InspectionsBetween(from, to, asOf time.Time) []permits.Inspection {
	var out []permits.Inspection
	st := &c.permits
	for _, rec := range c.permitRecs(asOf) {
		if rec.completed.Before(from) && !rec.completed.IsZero() {
			st.mu.Lock()
			n := len(st.booked[rec.p.PermitNum])
			st.mu.Unlock()
			if n == 0 {
				continue
			}
		}
		st.mu.Lock()
		booked := st.booked[rec.p.PermitNum]
		st.mu.Unlock()
		for _, in := range c.inspectionsAt(rec, asOf, booked) {
			if !in.ScheduledAt.Before(from) && in.ScheduledAt.Before(to) {
				out = append(out, in)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b permits.Inspection) int {
		if d := a.ScheduledAt.Compare(b.ScheduledAt); d != 0 {
			return d
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// ScheduleInspection books an inspection of kind on permit permitID at at,
// as an approved action does. The permit must be issued or under works, at
// must lie within the next 90 days on a working day between 08:00 and
// 18:00, and kind must be one of the inspection kinds. The booking shows in
// the permit's history and inspections and in the inspections due from now on.
func (c *City) ScheduleInspection(permitID string, at time.Time, kind string) (permits.Inspection, error) {
	now := c.clock()
	rec, err := c.permitAt(permitID, now)
	if err != nil {
		return permits.Inspection{}, err
	}
	st := &c.permits
	if _, ok := st.kinds[kind]; !ok {
		return permits.Inspection{}, fmt.Errorf("democity: schedule inspection of %s: kind %q: %w (want first, routine, reinspection, final or complaint)", permitID, kind, ErrInvalidRequest)
	}
	v := c.view(rec, now, false)
	if v.StatusCurrent != StatusIssued && v.StatusCurrent != StatusUnderway {
		return permits.Inspection{}, fmt.Errorf("democity: schedule inspection of %s: the permit is %s, not issued or under works: %w", permitID, st.status[v.StatusCurrent].NameEn, ErrInvalidRequest)
	}
	lt := at.In(c.loc)
	h := hourOfDay(lt)
	switch {
	case !at.After(now):
		return permits.Inspection{}, fmt.Errorf("democity: schedule inspection of %s: %s is not in the future: %w", permitID, lt.Format("2006-01-02 15:04"), ErrInvalidRequest)
	case at.After(now.AddDate(0, 0, 90)):
		return permits.Inspection{}, fmt.Errorf("democity: schedule inspection of %s: %s is more than 90 days ahead: %w", permitID, lt.Format("2006-01-02"), ErrInvalidRequest)
	case isWeekend(lt) || h < 8 || h > 18:
		return permits.Inspection{}, fmt.Errorf("democity: schedule inspection of %s: %s is outside working hours (Mon–Fri 08:00–18:00): %w", permitID, lt.Format("Mon 2006-01-02 15:04"), ErrInvalidRequest)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	in := permits.Inspection{ID: fmt.Sprintf("%s-B%02d", permitID, len(st.booked[permitID])+1), PermitNum: permitID, Kind: kind,
		Status: permits.InspectionScheduled, ScheduledAt: lt, District: rec.p.District, RiskClass: rec.p.RiskClass, ScheduledBy: "operator"}
	st.booked[permitID] = append(st.booked[permitID], booking{in: in, at: now})
	return in, nil
}

// FlagPermitForReview marks a permit for supervisory review with reason, as
// an approved action does. The flag and its reason show in the permit's
// detail and history and in searches for flagged permits. Flagging again
// replaces the reason.
func (c *City) FlagPermitForReview(permitID, reason string) (permits.Permit, error) {
	now := c.clock()
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > 500 {
		return permits.Permit{}, fmt.Errorf("democity: flag permit %s: the reason must be 1 to 500 characters: %w", permitID, ErrInvalidRequest)
	}
	rec, err := c.permitAt(permitID, now)
	if err != nil {
		return permits.Permit{}, err
	}
	c.permits.mu.Lock()
	c.permits.flags[permitID] = permitFlag{reason: reason, at: now}
	c.permits.mu.Unlock()
	return c.view(rec, now, true), nil
}

// money formats an amount with thousands separators.
func money(x float64) string {
	n := int64(math.Round(x))
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && r != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
