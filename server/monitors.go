package server

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/store"
)

// MonitorService is what the monitor and alert routes call
// (monitors.Service); it filters everything by the viewer's clearance and
// audits acknowledgements.
type MonitorService interface {
	Monitors(ctx context.Context, viewer access.Principal) ([]monitors.MonitorView, error)
	VitalSigns(ctx context.Context, viewer access.Principal) ([]monitors.VitalSign, error)
	Alerts(ctx context.Context, f store.AlertFilter, viewer access.Principal) ([]store.Alert, error)
	Alert(ctx context.Context, id string, viewer access.Principal) (store.Alert, error)
	Acknowledge(ctx context.Context, id string, by access.Principal, comment string) (store.Alert, error)
}

var _ MonitorService = (*monitors.Service)(nil)

// monitorRoutes registers /v1/monitors, /v1/vital-signs and /v1/alerts
// (DESIGN §4: operator+, acknowledging supervisor+).
func (s *Server) monitorRoutes(v1 fiber.Router) {
	v1.Get("/monitors", s.require(access.RoleOperator), s.listMonitors)
	v1.Get("/vital-signs", s.require(access.RoleOperator), s.vitalSigns)
	v1.Get("/alerts", s.require(access.RoleOperator), s.listAlerts)
	v1.Get("/alerts/:id", s.require(access.RoleOperator), s.getAlert)
	v1.Post("/alerts/:id/ack", s.require(access.RoleSupervisor), s.ackAlert)
}

func (s *Server) monitorSvc() (MonitorService, error) {
	if s.deps.Monitors == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "monitors are not enabled on this server"}
	}
	return s.deps.Monitors, nil
}

// monitorProblem maps the monitor service's errors to problems.
func monitorProblem(err error) error {
	msg, ok := usererr.Message(err)
	switch {
	case !ok:
		return err
	case errors.Is(err, monitors.ErrAlertNotFound):
		return notFound(msg)
	case errors.Is(err, monitors.ErrAlertState):
		return &Problem{Status: fiber.StatusConflict, Title: "Conflict", Detail: msg}
	}
	return err
}

func (s *Server) listMonitors(c *fiber.Ctx) error {
	svc, err := s.monitorSvc()
	if err != nil {
		return err
	}
	list, err := svc.Monitors(c.UserContext(), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"monitors": list})
}

func (s *Server) vitalSigns(c *fiber.Ctx) error {
	svc, err := s.monitorSvc()
	if err != nil {
		return err
	}
	list, err := svc.VitalSigns(c.UserContext(), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"as_of": s.deps.Now().UTC(), "indicators": list})
}

var alertStatuses = []string{store.AlertFiring, store.AlertAcknowledged, store.AlertResolved}

// listAlerts pages through the alerts the caller's clearance covers, most
// recently fired first: ?status, monitor, severity, subject, limit (1–100),
// before (the last id of the previous page).
func (s *Server) listAlerts(c *fiber.Ctx) error {
	svc, err := s.monitorSvc()
	if err != nil {
		return err
	}
	f := store.AlertFilter{Status: c.Query("status"), Monitor: c.Query("monitor"), Severity: c.Query("severity"), Subject: c.Query("subject"), Before: c.Query("before")}
	var errs []FieldError
	if f.Status != "" && !contains(alertStatuses, f.Status) {
		errs = append(errs, FieldError{"status", "must be one of " + strings.Join(alertStatuses, ", ")})
	}
	if f.Severity != "" && !contains(monitors.Severities, f.Severity) {
		errs = append(errs, FieldError{"severity", "must be one of " + strings.Join(monitors.Severities, ", ")})
	}
	limit, ferr := queryInt(c, "limit", 20, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	f.Limit = limit + 1
	list, err := svc.Alerts(c.UserContext(), f, mustPrincipal(c))
	if err != nil {
		return monitorProblem(err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return c.JSON(fiber.Map{"alerts": list, "next_before": next})
}

func (s *Server) getAlert(c *fiber.Ctx) error {
	svc, err := s.monitorSvc()
	if err != nil {
		return err
	}
	a, err := svc.Alert(c.UserContext(), c.Params("id"), mustPrincipal(c))
	if err != nil {
		return monitorProblem(err)
	}
	return c.JSON(a)
}

// AckRequest is the body of POST /v1/alerts/{id}/ack; it may be left out.
type AckRequest struct {
	Comment string `json:"comment"`
}

func (s *Server) ackAlert(c *fiber.Ctx) error {
	svc, err := s.monitorSvc()
	if err != nil {
		return err
	}
	var req AckRequest
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if len([]rune(req.Comment)) > 1000 {
		return badRequest("the request is invalid", FieldError{"comment", "must be at most 1000 characters"})
	}
	a, err := svc.Acknowledge(c.UserContext(), c.Params("id"), mustPrincipal(c), req.Comment)
	if err != nil {
		return monitorProblem(err)
	}
	return c.JSON(a)
}
