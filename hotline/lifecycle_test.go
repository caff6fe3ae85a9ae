package hotline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
)

func TestLifecycleTable(t *testing.T) {
	t.Parallel()
	for _, e := range lifecycle {
		if !slices.Contains(Statuses, e.from) || !slices.Contains(Statuses, e.to) {
			t.Errorf("edge %v names a status not in Statuses", e)
		}
		if e.action != ActionProposal && actionRoles[e.action] == nil {
			t.Errorf("edge %v: nobody may take %s", e, e.action)
		}
	}
	for _, s := range Statuses {
		next := NextStatuses(s)
		if Finished(s) != (len(next) == 0) {
			t.Errorf("%s: next %v (finished %v)", s, next, Finished(s))
		}
	}
	// Every status is reachable from triaged, and closed from every open one.
	reach := func(from string) map[string]bool {
		seen := map[string]bool{from: true}
		for todo := []string{from}; len(todo) > 0; {
			s := todo[0]
			todo = todo[1:]
			for _, n := range NextStatuses(s) {
				if !seen[n] {
					seen[n] = true
					todo = append(todo, n)
				}
			}
		}
		return seen
	}
	if r := reach(StatusTriaged); len(r) != len(Statuses) {
		t.Errorf("reachable from triaged: %v", r)
	}
	for _, s := range Statuses {
		if !Finished(s) && !reach(s)[StatusClosed] {
			t.Errorf("closed is not reachable from %s", s)
		}
	}
	cases := []struct {
		from   string
		action Action
		to     string
		ok     bool
	}{
		{StatusDispatched, ActionAccept, StatusAccepted, true},
		{StatusDispatched, ActionReply, StatusReplied, false},
		{StatusReplied, ActionVisit, StatusReopened, true},
		{StatusReopened, ActionReply, StatusReplied, true},
		{StatusReturned, ActionDispatch, StatusDispatched, true},
		{StatusReturned, ActionAccept, StatusAccepted, false},
		{StatusAccepted, ActionMerge, StatusMerged, true},
		{StatusReplied, ActionMerge, StatusMerged, false},
		{StatusMerged, ActionMerge, StatusMerged, false},
		{StatusClosed, ActionVisit, StatusReopened, false},
	}
	for _, c := range cases {
		if got := legal(c.from, c.action, c.to); got != c.ok {
			t.Errorf("legal(%s, %s, %s) = %v", c.from, c.action, c.to, got)
		}
	}
	if got := NextActions(StatusAccepted); !slices.Equal(got, []Action{ActionMerge, ActionProgress, ActionReply, ActionReturn}) {
		t.Errorf("NextActions(accepted) = %v", got)
	}
	for s, want := range map[string]string{StatusClosed: "closed", StatusMerged: "closed", StatusReopened: "open", StatusReplied: "open", StatusTriaged: "open"} {
		if got := Open311Status(s); got != want {
			t.Errorf("Open311Status(%s) = %s", s, got)
		}
	}
}

func TestMayAct(t *testing.T) {
	t.Parallel()
	dept := access.Principal{KeyID: "k", Role: access.RoleDepartment, Department: "water"}
	cases := []struct {
		by access.Principal
		a  Action
		ok bool
	}{
		{dept, ActionAccept, true},
		{dept, ActionVisit, false},
		{dept, ActionDispatch, false},
		{access.Principal{Role: access.RoleHotline}, ActionAccept, false},
		{access.Principal{Role: access.RoleHotline}, ActionVisit, true},
		{access.Principal{Role: access.RoleSupervisor}, ActionDispatch, true},
		{access.Principal{Role: access.RoleAdmin}, ActionReply, true},
		{access.Principal{Role: access.RoleOperator}, ActionAccept, false},
	}
	for _, c := range cases {
		err := mayAct(c.by, c.a)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
			t.Errorf("mayAct(%s, %s) = %v", c.by.Role, c.a, err)
		}
	}
	if !sees(dept, "water") || sees(dept, "power") || sees(access.Principal{Role: access.RoleDepartment}, "") || !sees(access.Principal{Role: access.RoleSupervisor}, "power") {
		t.Error("sees")
	}
}

func TestCheckReply(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, text string
		ok        bool
	}{
		{"complaint", "经核实，该餐馆油烟净化器未开启，已责令整改，现已正常运行。", true},
		{"complaint", "We inspected the site and the restaurant has been ordered to fix its extractor.", true},
		{"complaint", "我们会跟进的，请耐心等待", false},
		{"complaint", "收到", false},
		{"complaint", "Noted.", false},
		{"help", "已安排抢修人员到场，已恢复供水。", true},
		{"help", "我们会尽快", false},
		{"inquiry", "可于工作日9:00-17:00携带身份证到政务服务中心办理。", true},
		{"inquiry", "You can apply online at the permits portal.", true},
		{"suggestion", "感谢您的建议，已纳入明年道路改造计划研究。", true},
		{"suggestion", "已转相关部门。", false},
		{"praise", "感谢您的肯定，已转达给当班司机。", true},
		{"report", "经查，该工地夜间施工未办理许可，已依法查处。", true},
		{"report", "正在处理中", false},
		{"unknowntype", "已处理完毕。", true},
		{"help", "", false},
		{"help", "已修", false},
		{"help", "已安排\u202e到场", false},
	}
	for _, c := range cases {
		err := CheckReply(c.typ, c.text)
		var ie *InputError
		if (err == nil) != c.ok || (err != nil && (!errors.As(err, &ie) || ie.Field != "text")) {
			t.Errorf("CheckReply(%s, %q) = %v", c.typ, c.text, err)
		}
	}
	long := make([]rune, MaxNoteRunes+1)
	for i := range long {
		long[i] = '修'
	}
	if CheckReply("help", "已"+string(long)) == nil {
		t.Error("an over-long reply passed")
	}
}

type lockedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *lockedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSupervisionLease: one replica supervises at a time; the holder
// flags overdue tickets once and gives the lease up when it stops.
func TestSupervisionLease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &lockedClock{t: time.Now().UTC()}
	svc, err := NewService(Config{Taxonomy: DefaultTaxonomy(), Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	created, err := svc.Create(ctx, CreateRequest{Text: "我们小区从今天早上就停水了，到现在还没来水"}, CreateOptions{Principal: hotlineKey})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Ticket.ID
	clock.Add(created.Ticket.Deadline.Sub(created.Ticket.ReceivedAt) + time.Minute)
	if _, ok, err := db.AcquireLease(ctx, SupervisionLease, "other-replica", clock.Now(), time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	svc.superviseLeased(ctx, db, time.Minute, "this-replica")
	if st, _ := db.GetTicket(ctx, id); st.Lifecycle.OverdueAt != nil {
		t.Fatal("supervised without the lease")
	}
	if err := db.ReleaseLease(ctx, SupervisionLease, "other-replica"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.RunSupervision(rctx, 5*time.Millisecond, "this-replica"); close(done) }()
	for {
		st, err := db.GetTicket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Lifecycle.OverdueAt != nil && st.Lifecycle.WarnedAt != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	l, err := db.GetLease(ctx, SupervisionLease)
	if err != nil || l.Holder != "this-replica" || l.ExpiresAt.After(time.Unix(0, 0)) {
		t.Errorf("lease after stop = %+v, %v", l, err)
	}
	recs, err := db.ListAudit(ctx, store.AuditFilter{Kind: KindTicketOverdue, Subject: id})
	if err != nil || len(recs) != 1 {
		t.Errorf("overdue records = %d, %v", len(recs), err)
	}
}
