package monitors

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// Audit kinds of alert transitions (event types alert.fired,
// alert.acknowledged, alert.resolved).
const (
	KindAlertFire        = "alert.fire"
	KindAlertAcknowledge = "alert.acknowledge"
	KindAlertResolve     = "alert.resolve"
)

// SystemActor is the audit actor of what the scheduler does.
const SystemActor = "system:monitors"

// maxValues bounds the values an alert keeps.
const maxValues = 20

// sampleKeep is how long tick samples are kept for trends.
const sampleKeep = 25 * time.Hour

// evaluation is the input of one tick's hysteresis step.
type evaluation struct {
	m        Monitor
	at       time.Time
	obs      []Observation
	cite     tools.Citation
	subjects []store.MonitorSubject
	open     []store.Alert // the monitor's firing or acknowledged alerts
}

// step applies for/clear to every subject seen now, held before, or with
// an open alert, and returns what the tick writes (without its claim).
func (e evaluation) step() store.TickCommit {
	c := store.TickCommit{Monitor: e.m.Name, At: e.at, Status: "ok", Value: e.m.headline(e.obs), Subjects: len(e.obs),
		PruneBefore: e.at.Add(-sampleKeep)}
	asOf := e.cite.AsOf
	if asOf.IsZero() {
		asOf = e.at
	}
	c.AsOf = &asOf
	seen := map[string]float64{}
	for _, o := range e.obs {
		seen[o.Subject] = o.Value
	}
	prior := map[string]store.MonitorSubject{}
	for _, s := range e.subjects {
		prior[s.Subject] = s
	}
	open := map[string]store.Alert{}
	for _, a := range e.open {
		open[a.Subject] = a
	}
	for _, subject := range union(seen, prior, open) {
		v, ok := seen[subject]
		p, hadState := prior[subject]
		a, isOpen := open[subject]
		holds := ok && e.m.cond.Holds(v)
		if holds {
			c.Holding++
		}
		var valPtr *float64
		if ok {
			valPtr = &v
		}
		switch {
		case holds:
			since := e.at
			if p.HoldingSince != nil {
				since = *p.HoldingSince
			}
			c.Upsert = append(c.Upsert, store.MonitorSubject{Subject: subject, HoldingSince: &since, Value: valPtr, SeenAt: e.at})
			if isOpen {
				c.Update = append(c.Update, e.change(a, v, false))
			} else if e.at.Sub(since) >= e.m.For {
				alert := e.fire(subject, v, since, asOf)
				c.Fire = append(c.Fire, alert)
				c.Audits = append(c.Audits, transition(KindAlertFire, SystemActor, alert, e.at))
			}
		case isOpen:
			since := e.at
			if p.ClearSince != nil {
				since = *p.ClearSince
			}
			val := a.Value
			if ok {
				val = v
			}
			resolve := e.at.Sub(since) >= e.m.Clear
			ch := e.change(a, val, resolve)
			c.Update = append(c.Update, ch)
			if resolve {
				a.Value, a.Status, a.ResolvedAt = val, store.AlertResolved, &e.at
				c.Audits = append(c.Audits, transition(KindAlertResolve, SystemActor, a, e.at))
				c.Drop = append(c.Drop, subject)
			} else {
				c.Upsert = append(c.Upsert, store.MonitorSubject{Subject: subject, ClearSince: &since, Value: valPtr, SeenAt: e.at})
			}
		case hadState:
			c.Drop = append(c.Drop, subject)
		}
	}
	return c
}

func (e evaluation) fire(subject string, v float64, since, asOf time.Time) store.Alert {
	a := store.Alert{ID: "alrt_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20], Monitor: e.m.Name, Subject: subject,
		Severity: e.m.Severity, Clearance: string(e.m.Clearance), Status: store.AlertFiring, Title: e.m.Title, TitleZh: e.m.TitleZh,
		Unit: e.m.Unit, Condition: e.m.cond.String(), FirstValue: v, PeakValue: v, Value: v, Values: []store.AlertValue{{At: e.at, Value: v}},
		Tool: e.m.Tool, Source: e.cite.Source, AsOf: asOf, StartedAt: since, FiredAt: e.at, UpdatedAt: e.at}
	if e.m.Propose != nil {
		a.ProposalState = ProposalPending
	}
	return a
}

func (e evaluation) change(a store.Alert, v float64, resolve bool) store.AlertChange {
	values := append(a.Values, store.AlertValue{At: e.at, Value: v})
	if len(values) > maxValues {
		values = values[len(values)-maxValues:]
	}
	peak := a.PeakValue
	if e.m.cond.worse(v, peak) && (e.m.cond.Op != "==" && e.m.cond.Op != "!=") {
		peak = v
	}
	asOf := e.cite.AsOf
	if asOf.IsZero() {
		asOf = e.at
	}
	return store.AlertChange{ID: a.ID, Value: v, Values: values, Peak: peak, Source: e.cite.Source, AsOf: asOf, Resolve: resolve}
}

// transition is the audit record of an alert's change: the event payload
// other systems (events, webhooks, reports) read.
func transition(kind, actor string, a store.Alert, at time.Time) audit.Entry {
	p := map[string]any{"alert_id": a.ID, "monitor": a.Monitor, "subject": a.Subject, "severity": a.Severity,
		"clearance": a.Clearance, "status": a.Status, "value": a.Value, "unit": a.Unit, "condition": a.Condition,
		"title": a.Title, "title_zh": a.TitleZh, "source": a.Source, "as_of": a.AsOf, "fired_at": a.FiredAt}
	if a.AcknowledgedAt != nil {
		p["acknowledged_at"] = *a.AcknowledgedAt
		p["acknowledged_by"] = a.AcknowledgedBy
	}
	if a.ResolvedAt != nil {
		p["resolved_at"] = *a.ResolvedAt
	}
	return audit.Entry{Actor: actor, Kind: kind, Subject: a.ID, At: at, Payload: p}
}

func union(seen map[string]float64, prior map[string]store.MonitorSubject, open map[string]store.Alert) []string {
	all := map[string]bool{}
	for k := range seen {
		all[k] = true
	}
	for k := range prior {
		all[k] = true
	}
	for k := range open {
		all[k] = true
	}
	return sortedKeys(all)
}
