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
	paid := false
	if rec.issued.IsZero() || rec.issued.After(t) {
		p.IssuedDate, p.ExpiresDate, p.ProcessingDays = nil, nil, nil
	} else {
		paid = p.Fee > 0
	}
	p.FeePaid = &paid
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
