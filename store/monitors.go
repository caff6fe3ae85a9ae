package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// Alert statuses.
const (
	AlertFiring       = "firing"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// ErrTickFenced is returned by CommitMonitorTick when the tick's claim is no
// longer the monitor's latest: another replica claimed a later tick.
var ErrTickFenced = errors.New("store: monitor tick fenced by a later claim")

// ErrAlertState wraps ErrConflict when an alert is not in the state a
// transition starts from (e.g. acknowledging a resolved alert).
var ErrAlertState = fmt.Errorf("%w: alert state", ErrConflict)

// MonitorState is the scheduler's row of one monitor.
type MonitorState struct {
	Monitor    string     `json:"monitor"`
	NextRun    time.Time  `json:"next_run"`
	Seq        int64      `json:"ticks"` // ticks claimed so far
	ClaimedBy  string     `json:"claimed_by,omitempty"`
	LastTick   *time.Time `json:"last_tick,omitempty"`
	LastStatus string     `json:"last_status,omitempty"` // ok | error
	LastError  string     `json:"last_error,omitempty"`
	LastValue  *float64   `json:"last_value,omitempty"`
	LastAsOf   *time.Time `json:"last_as_of,omitempty"`
	Subjects   int        `json:"subjects"`
	Holding    int        `json:"holding"`
}

// MonitorSubject is the hysteresis state of one subject of one monitor.
type MonitorSubject struct {
	Subject      string
	HoldingSince *time.Time // the condition has held since
	ClearSince   *time.Time // the condition has been clear since (while an alert is open)
	Value        *float64
	SeenAt       time.Time
}

// AlertValue is one value an alert saw.
type AlertValue struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// Alert is one alert as stored.
type Alert struct {
	ID             string       `json:"id"`
	Monitor        string       `json:"monitor"`
	Subject        string       `json:"subject"`
	Severity       string       `json:"severity"`
	Clearance      string       `json:"clearance"`
	Status         string       `json:"status"`
	Title          string       `json:"title"`
	TitleZh        string       `json:"title_zh"`
	Unit           string       `json:"unit,omitempty"`
	Condition      string       `json:"condition"`
	FirstValue     float64      `json:"first_value"`
	PeakValue      float64      `json:"peak_value"`
	Value          float64      `json:"value"`
	Values         []AlertValue `json:"values"`
	Tool           string       `json:"tool"`
	Source         string       `json:"source"`
	AsOf           time.Time    `json:"as_of"`
	StartedAt      time.Time    `json:"started_at"`
	FiredAt        time.Time    `json:"fired_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	AcknowledgedAt *time.Time   `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string       `json:"acknowledged_by,omitempty"`
	AckComment     string       `json:"ack_comment,omitempty"`
	ResolvedAt     *time.Time   `json:"resolved_at,omitempty"`
	ProposalState  string       `json:"proposal_state,omitempty"` // "", pending, created, failed
	ProposalID     string       `json:"proposal_id,omitempty"`
	ProposalError  string       `json:"proposal_error,omitempty"`
}

// AlertChange updates an open alert at a tick: a new value seen, and
// possibly its resolution.
type AlertChange struct {
	ID      string
	Value   float64
	Values  []AlertValue
	Peak    float64
	Source  string
	AsOf    time.Time
	Resolve bool
}

// MonitorSample is one tick's headline value.
type MonitorSample struct {
	At      time.Time `json:"at"`
	Value   *float64  `json:"value"`
	Holding int       `json:"holding"`
}

// TickCommit is everything one tick writes, in one transaction.
type TickCommit struct {
	Monitor  string
	Seq      int64 // the claim this tick holds
	At       time.Time
	Status   string
	Error    string
	Value    *float64
	AsOf     *time.Time
	Subjects int
	Holding  int
	// Upsert and Drop change the subjects' hysteresis state.
	Upsert []MonitorSubject
	Drop   []string
	Fire   []Alert
	Update []AlertChange
	// PruneBefore deletes samples older than it (zero: keep all).
	PruneBefore time.Time
	Audits      []audit.Entry
}

const alertColumns = "id, monitor, subject, severity, clearance, status, title, title_zh, unit, condition, first_value, peak_value, value, " +
	"value_history, tool, source, as_of, started_at, fired_at, updated_at, acknowledged_at, acknowledged_by, ack_comment, resolved_at, " +
	"proposal_state, proposal_id, proposal_error"

const monitorStateColumns = "monitor, next_run, seq, claimed_by, last_tick, last_status, last_error, last_value, last_as_of, subjects, holding"

// EnsureMonitor creates a monitor's scheduler row, first due at firstRun,
// unless it exists.
func (db *DB) EnsureMonitor(ctx context.Context, name string, firstRun time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO monitor_state (monitor, next_run) VALUES (?, ?) ON CONFLICT (monitor) DO NOTHING"), name, nanos(firstRun))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: ensure monitor %s: %w", name, err)
	}
	return nil
}

// MonitorStates returns every monitor's scheduler row, by name.
func (db *DB) MonitorStates(ctx context.Context) ([]MonitorState, error) {
	out, err := queryRows(ctx, db.sql, "SELECT "+monitorStateColumns+" FROM monitor_state ORDER BY monitor", nil, scanMonitorState)
	if err != nil {
		return nil, fmt.Errorf("store: monitor states: %w", err)
	}
	return out, nil
}

// MonitorState returns one monitor's scheduler row.
func (db *DB) MonitorState(ctx context.Context, name string) (MonitorState, error) {
	st, err := scanMonitorState(db.sql.QueryRowContext(ctx, db.q("SELECT "+monitorStateColumns+" FROM monitor_state WHERE monitor = ?"), name))
	if errors.Is(err, sql.ErrNoRows) {
		return MonitorState{}, fmt.Errorf("store: monitor %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return MonitorState{}, fmt.Errorf("store: monitor %s: %w", name, err)
	}
	return st, nil
}

func scanMonitorState(s scanner) (MonitorState, error) {
	var st MonitorState
	var next int64
	var last, asOf sql.NullInt64
	var val sql.NullFloat64
	err := s.Scan(&st.Monitor, &next, &st.Seq, &st.ClaimedBy, &last, &st.LastStatus, &st.LastError, &val, &asOf, &st.Subjects, &st.Holding)
	st.NextRun, st.LastTick, st.LastAsOf = fromNanos(next), fromNullNanos(last), fromNullNanos(asOf)
	if val.Valid {
		st.LastValue = &val.Float64
	}
	return st, err
}

// ClaimMonitorTick claims the run due at due for holder and moves next_run
// to next. Only one caller that read the same due wins (ok); the returned
// seq identifies the claim for CommitMonitorTick.
func (db *DB) ClaimMonitorTick(ctx context.Context, name string, due, next time.Time, holder string, now time.Time) (seq int64, ok bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE monitor_state SET next_run = ?, seq = seq + 1, claimed_by = ?, claimed_at = ? WHERE monitor = ? AND next_run = ?"),
			nanos(next), holder, nanos(now), name, nanos(due))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		ok = true
		return tx.QueryRowContext(ctx, db.q("SELECT seq FROM monitor_state WHERE monitor = ?"), name).Scan(&seq)
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: claim tick of %s: %w", name, err)
	}
	return seq, ok, nil
}

// MonitorSubjects returns the hysteresis state of a monitor's subjects.
func (db *DB) MonitorSubjects(ctx context.Context, name string) ([]MonitorSubject, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT subject, holding_since, clear_since, value, seen_at FROM monitor_subjects WHERE monitor = ? ORDER BY subject"),
		[]any{name}, func(s scanner) (MonitorSubject, error) {
			var m MonitorSubject
			var hold, clear sql.NullInt64
			var val sql.NullFloat64
			var seen int64
			err := s.Scan(&m.Subject, &hold, &clear, &val, &seen)
			m.HoldingSince, m.ClearSince, m.SeenAt = fromNullNanos(hold), fromNullNanos(clear), fromNanos(seen)
			if val.Valid {
				m.Value = &val.Float64
			}
			return m, err
		})
	if err != nil {
		return nil, fmt.Errorf("store: monitor subjects of %s: %w", name, err)
	}
	return out, nil
}

// CommitMonitorTick writes a tick's outcome, its alert transitions and
// their audit records in one transaction, if the tick still holds the
// monitor's latest claim (else ErrTickFenced, and nothing is written).
func (db *DB) CommitMonitorTick(ctx context.Context, c TickCommit) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE monitor_state SET last_tick = ?, last_status = ?, last_error = ?, last_value = ?, last_as_of = ?, subjects = ?, holding = ? WHERE monitor = ? AND seq = ?"),
			nanos(c.At), c.Status, c.Error, nullFloatPtr(c.Value), nullNanos(c.AsOf), c.Subjects, c.Holding, c.Monitor, c.Seq)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrTickFenced, err)
		}
		if err := db.writeSubjects(ctx, tx, c); err != nil {
			return err
		}
		for _, a := range c.Fire {
			if err := db.insertAlert(ctx, tx, a); err != nil {
				return err
			}
		}
		for _, u := range c.Update {
			if err := db.updateAlert(ctx, tx, u, c.At); err != nil {
				return err
			}
		}
		if c.Status == "ok" {
			if _, err := tx.ExecContext(ctx, db.q("INSERT INTO monitor_samples (monitor, at, value, holding) VALUES (?, ?, ?, ?) ON CONFLICT (monitor, at) DO NOTHING"),
				c.Monitor, nanos(c.At), nullFloatPtr(c.Value), c.Holding); err != nil {
				return fmt.Errorf("sample: %w", err)
			}
		}
		if !c.PruneBefore.IsZero() {
			if _, err := tx.ExecContext(ctx, db.q("DELETE FROM monitor_samples WHERE monitor = ? AND at < ?"), c.Monitor, nanos(c.PruneBefore)); err != nil {
				return fmt.Errorf("prune samples: %w", err)
			}
		}
		_, err = db.appendAudit(ctx, tx, c.Audits)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrTickFenced) {
			return fmt.Errorf("store: commit tick of %s: %w", c.Monitor, ErrTickFenced)
		}
		return fmt.Errorf("store: commit tick of %s: %w", c.Monitor, db.classify(err))
	}
	return nil
}

func (db *DB) writeSubjects(ctx context.Context, tx *sql.Tx, c TickCommit) error {
	up := db.q(`INSERT INTO monitor_subjects (monitor, subject, holding_since, clear_since, value, seen_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (monitor, subject) DO UPDATE SET holding_since = excluded.holding_since, clear_since = excluded.clear_since, value = excluded.value, seen_at = excluded.seen_at`)
	for _, s := range c.Upsert {
		if _, err := tx.ExecContext(ctx, up, c.Monitor, s.Subject, nullNanos(s.HoldingSince), nullNanos(s.ClearSince), nullFloatPtr(s.Value), nanos(s.SeenAt)); err != nil {
			return fmt.Errorf("subject %s: %w", s.Subject, err)
		}
	}
	for _, s := range c.Drop {
		if _, err := tx.ExecContext(ctx, db.q("DELETE FROM monitor_subjects WHERE monitor = ? AND subject = ?"), c.Monitor, s); err != nil {
			return fmt.Errorf("drop subject %s: %w", s, err)
		}
	}
	return nil
}

func (db *DB) insertAlert(ctx context.Context, tx *sql.Tx, a Alert) error {
	hist, err := json.Marshal(a.Values)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, db.q("INSERT INTO alerts ("+alertColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		a.ID, a.Monitor, a.Subject, a.Severity, a.Clearance, a.Status, a.Title, a.TitleZh, a.Unit, a.Condition, a.FirstValue, a.PeakValue, a.Value,
		string(hist), a.Tool, a.Source, nanos(a.AsOf), nanos(a.StartedAt), nanos(a.FiredAt), nanos(a.UpdatedAt), nullNanos(a.AcknowledgedAt),
		a.AcknowledgedBy, a.AckComment, nullNanos(a.ResolvedAt), a.ProposalState, a.ProposalID, a.ProposalError)
	if err != nil {
		return fmt.Errorf("insert alert %s: %w", a.ID, err)
	}
	return nil
}

func (db *DB) updateAlert(ctx context.Context, tx *sql.Tx, u AlertChange, at time.Time) error {
	hist, err := json.Marshal(u.Values)
	if err != nil {
		return err
	}
	q := "UPDATE alerts SET value = ?, peak_value = ?, value_history = ?, source = ?, as_of = ?, updated_at = ?"
	args := []any{u.Value, u.Peak, string(hist), u.Source, nanos(u.AsOf), nanos(at)}
	if u.Resolve {
		q += ", status = ?, resolved_at = ?"
		args = append(args, AlertResolved, nanos(at))
	}
	q += " WHERE id = ? AND status <> ?"
	args = append(args, u.ID, AlertResolved)
	res, err := tx.ExecContext(ctx, db.q(q), args...)
	if err != nil {
		return fmt.Errorf("update alert %s: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(fmt.Errorf("update alert %s: %w", u.ID, ErrAlertState), err)
	}
	return nil
}

func nullFloatPtr(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// AlertFilter selects alerts; empty fields match everything.
type AlertFilter struct {
	Status, Monitor, Severity, Subject string
	Statuses                           []string // any of these
	Clearances                         []string // only alerts at one of these levels (nil: any)
	Before                             string   // cursor: the last alert id of the previous page
	Limit                              int      // ≤ 0: 50; at most 1000
}

// ListAlerts pages through alerts, most recently fired first. A cursor that
// names no alert gives ErrNotFound.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"status", f.Status}, {"monitor", f.Monitor}, {"severity", f.Severity}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	for _, in := range []struct {
		col string
		vs  []string
	}{{"status", f.Statuses}, {"clearance", f.Clearances}} {
		if in.vs == nil {
			continue
		}
		if len(in.vs) == 0 {
			return []Alert{}, nil
		}
		where = append(where, in.col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(in.vs)), ", ")+")")
		for _, v := range in.vs {
			args = append(args, v)
		}
	}
	if f.Before != "" {
		cond, cargs, err := db.before(ctx, "alerts", "fired_at", f.Before)
		if err != nil {
			return nil, fmt.Errorf("store: list alerts: %w", err)
		}
		where, args = append(where, cond), append(args, cargs...)
	}
	q := "SELECT " + alertColumns + " FROM alerts"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY fired_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	out, err := queryRows(ctx, db.sql, db.q(q), args, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	return out, nil
}

// before is the keyset condition of a newest-first page of table (ordered
// by col, then id) after the row named id; ErrNotFound when there is none.
// table and col are constants of the caller.
func (db *DB) before(ctx context.Context, table, col, id string) (string, []any, error) {
	var at int64
	err := db.sql.QueryRowContext(ctx, db.q("SELECT "+col+" FROM "+table+" WHERE id = ?"), id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("cursor %s: %w", id, err)
	}
	return "(" + col + " < ? OR (" + col + " = ? AND id < ?))", []any{at, at, id}, nil
}

// GetAlert reads one alert; ErrNotFound when there is none.
func (db *DB) GetAlert(ctx context.Context, id string) (Alert, error) {
	a, err := scanAlert(db.sql.QueryRowContext(ctx, db.q("SELECT "+alertColumns+" FROM alerts WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, fmt.Errorf("store: alert %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("store: alert %s: %w", id, err)
	}
	return a, nil
}

func scanAlert(s scanner) (Alert, error) {
	var a Alert
	var hist string
	var asOf, started, fired, updated int64
	var acked, resolved sql.NullInt64
	err := s.Scan(&a.ID, &a.Monitor, &a.Subject, &a.Severity, &a.Clearance, &a.Status, &a.Title, &a.TitleZh, &a.Unit, &a.Condition,
		&a.FirstValue, &a.PeakValue, &a.Value, &hist, &a.Tool, &a.Source, &asOf, &started, &fired, &updated, &acked, &a.AcknowledgedBy,
		&a.AckComment, &resolved, &a.ProposalState, &a.ProposalID, &a.ProposalError)
	if err != nil {
		return a, err
	}
	a.AsOf, a.StartedAt, a.FiredAt, a.UpdatedAt = fromNanos(asOf), fromNanos(started), fromNanos(fired), fromNanos(updated)
	a.AcknowledgedAt, a.ResolvedAt = fromNullNanos(acked), fromNullNanos(resolved)
	a.Values = []AlertValue{}
	if err := json.Unmarshal([]byte(hist), &a.Values); err != nil {
		return a, fmt.Errorf("alert %s values: %w", a.ID, err)
	}
	return a, nil
}

// AcknowledgeAlert moves a firing alert to acknowledged, with its audit
// record in the same transaction. An alert already acknowledged or resolved
// gives ErrAlertState; an unknown one ErrNotFound.
func (db *DB) AcknowledgeAlert(ctx context.Context, id, by, comment string, at time.Time, audits ...audit.Entry) (Alert, error) {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE alerts SET status = ?, acknowledged_at = ?, acknowledged_by = ?, ack_comment = ?, updated_at = ? WHERE id = ? AND status = ?"),
			AlertAcknowledged, nanos(at), by, comment, nanos(at), id, AlertFiring)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var status string
			err := tx.QueryRowContext(ctx, db.q("SELECT status FROM alerts WHERE id = ?"), id).Scan(&status)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: alert %s is %s", ErrAlertState, id, status)
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return Alert{}, fmt.Errorf("store: acknowledge alert %s: %w", id, err)
	}
	return db.GetAlert(ctx, id)
}

// ResolveAlert resolves an open alert outside a tick (its monitor no longer
// exists), drops its subject's timers and appends audits in the same
// transaction; ErrAlertState when it is resolved already.
func (db *DB) ResolveAlert(ctx context.Context, id string, at time.Time, audits ...audit.Entry) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var monitor, subject string
		err := tx.QueryRowContext(ctx, db.q("SELECT monitor, subject FROM alerts WHERE id = ? AND status <> ?"), id, AlertResolved).Scan(&monitor, &subject)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: alert %s is not open", ErrAlertState, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q("UPDATE alerts SET status = ?, resolved_at = ?, updated_at = ? WHERE id = ?"), AlertResolved, nanos(at), nanos(at), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q("DELETE FROM monitor_subjects WHERE monitor = ? AND subject = ?"), monitor, subject); err != nil {
			return err
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: resolve alert %s: %w", id, err)
	}
	return nil
}

// SetAlertProposal records what became of the proposal an alert asked for.
func (db *DB) SetAlertProposal(ctx context.Context, id, state, proposalID, errText string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("UPDATE alerts SET proposal_state = ?, proposal_id = ?, proposal_error = ? WHERE id = ?"), state, proposalID, errText, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: alert %s proposal: %w", id, err)
	}
	return nil
}

// MonitorSamples returns a monitor's samples at or after since, oldest first.
func (db *DB) MonitorSamples(ctx context.Context, name string, since time.Time) ([]MonitorSample, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT at, value, holding FROM monitor_samples WHERE monitor = ? AND at >= ? ORDER BY at"),
		[]any{name, nanos(since)}, func(s scanner) (MonitorSample, error) {
			var m MonitorSample
			var at int64
			var v sql.NullFloat64
			err := s.Scan(&at, &v, &m.Holding)
			m.At = fromNanos(at)
			if v.Valid {
				m.Value = &v.Float64
			}
			return m, err
		})
	if err != nil {
		return nil, fmt.Errorf("store: samples of %s: %w", name, err)
	}
	return out, nil
}
