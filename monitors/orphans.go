package monitors

import (
	"context"
	"fmt"

	"github.com/cityagent/cityagent/store"
)

// ReasonMonitorRemoved is the reason an alert.resolve record gives when
// the alert's monitor is no longer in the catalog.
const ReasonMonitorRemoved = "monitor_removed"

// ResolveOrphans resolves the open alerts of monitors that are no longer in
// the catalog (their file was deleted or renamed): nothing would ever tick
// them again. Each is audited as alert.resolve by the system with reason
// monitor_removed. It returns how many it resolved; the server calls it at
// start-up, before the scheduler runs.
func (s *Scheduler) ResolveOrphans(ctx context.Context) (int, error) {
	s.init()
	known := map[string]bool{}
	for _, m := range s.Catalog.List() {
		known[m.Name] = true
	}
	var orphans []store.Alert
	for before := ""; ; {
		page, err := s.Store.ListAlerts(ctx, store.AlertFilter{Statuses: []string{store.AlertFiring, store.AlertAcknowledged}, Limit: 100, Before: before})
		if err != nil {
			return 0, fmt.Errorf("open alerts: %w", err)
		}
		for _, a := range page {
			if !known[a.Monitor] {
				orphans = append(orphans, a)
			}
		}
		if len(page) < 100 {
			break
		}
		before = page[len(page)-1].ID
	}
	now := s.Now()
	for _, a := range orphans {
		a.Status, a.ResolvedAt = store.AlertResolved, &now
		entry := transition(KindAlertResolve, SystemActor, a, now)
		entry.Payload.(map[string]any)["reason"] = ReasonMonitorRemoved
		if err := s.Store.ResolveAlert(ctx, a.ID, now, entry); err != nil {
			return 0, err
		}
		s.Log.Info("alert resolved: its monitor no longer exists", "monitor", a.Monitor, "alert", a.ID)
	}
	return len(orphans), nil
}
