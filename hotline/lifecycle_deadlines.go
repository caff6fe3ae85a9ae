package hotline

import (
	"context"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/sweep"
	"github.com/cityagent/cityagent/store"
)

// Supervision (督办) of deadlines.
const (
	// WarnShare is the share of the handling time after which a ticket is
	// warned about.
	WarnShare = 0.8
	// SupervisionLease names the lease one replica holds to supervise.
	SupervisionLease = "hotline.deadlines"
	// SupervisionActor is the actor of warning and overdue records.
	SupervisionActor = "system:hotline-supervision"
	superviseBatch   = 200
)

// supervisedStatuses are the statuses whose clock runs: from intake until
// the reply (a replied ticket waits for its return visit, not for work).
var supervisedStatuses = []string{StatusTriaged, StatusPendingApproval, StatusDispatchRejected, StatusDispatchExpired,
	StatusDispatchFailed, StatusReturned, StatusDispatched, StatusAccepted, StatusInProgress, StatusReopened}

// SupervisionResult counts what one supervision pass flagged.
type SupervisionResult struct {
	Warned  int `json:"warned"`
	Overdue int `json:"overdue"`
}

// Supervise flags, once each, the running tickets whose clock (not paused)
// has used WarnShare of their time (audited hotline.ticket_warning) and
// those past their deadline (overdue_at set, audited hotline.ticket_overdue,
// escalated to the supervisor's queue: Queue with Overdue). Call it under
// the supervision lease (RunSupervision) so one replica does it.
func (s *Service) Supervise(ctx context.Context) (SupervisionResult, error) {
	var r SupervisionResult
	ls, err := s.lifecycleStore()
	if err != nil {
		return r, err
	}
	now := s.now().UTC()
	for _, pass := range []struct {
		flag, kind string
		share      float64
		count      *int
	}{{store.FlagWarned, KindTicketWarning, WarnShare, &r.Warned}, {store.FlagOverdue, KindTicketOverdue, 1, &r.Overdue}} {
		due, err := ls.TicketsToSupervise(ctx, pass.flag, pass.share, supervisedStatuses, now, superviseBatch)
		if err != nil {
			return r, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		for _, st := range due {
			payload := map[string]any{"ticket_id": st.ID, "department": st.Department, "deadline": st.Deadline, "status": st.Status}
			if pass.flag == store.FlagWarned {
				payload["share_used"] = pass.share
			}
			set, err := ls.FlagTicket(ctx, st.ID, pass.flag, st.Status, now,
				audit.Entry{Actor: SupervisionActor, Kind: pass.kind, Subject: st.ID, At: now, Payload: payload})
			if err != nil {
				return r, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			if set {
				*pass.count++
			}
		}
	}
	return r, nil
}

// RunSupervision supervises every interval while this replica (holder)
// holds the supervision lease, until ctx ends; then it gives the lease up.
func (s *Service) RunSupervision(ctx context.Context, interval time.Duration, holder string) {
	ls, err := s.lifecycleStore()
	if err != nil {
		s.log.Error("hotline supervision is off", "err", err)
		return
	}
	sweep.Every(ctx, interval, func(ctx context.Context) { s.superviseLeased(ctx, ls, interval, holder) })
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := ls.ReleaseLease(rctx, SupervisionLease, holder); err != nil {
		s.log.Warn("hotline supervision: releasing the lease failed", "err", err)
	}
}

func (s *Service) superviseLeased(ctx context.Context, ls LifecycleStore, interval time.Duration, holder string) {
	_, ok, err := ls.AcquireLease(ctx, SupervisionLease, holder, s.now(), 3*interval)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			s.log.Warn("hotline supervision: lease", "err", err)
		}
		return
	}
	r, err := s.Supervise(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("hotline supervision failed", "err", err)
	}
	if r != (SupervisionResult{}) {
		s.log.Info("hotline supervision", "warned", r.Warned, "overdue", r.Overdue)
	}
}
