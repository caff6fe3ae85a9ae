package server

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/reports"
)

// ReportService computes the operations report (reports.Service).
type ReportService interface {
	ParseRange(from, to string) (time.Time, time.Time, error)
	OperationsFor(ctx context.Context, from, to time.Time, viewer access.Clearance) (reports.Report, error)
}

var _ ReportService = (*reports.Service)(nil)

// kindReportRead is the audit kind of a report read.
const kindReportRead = "report.read"

func (s *Server) reportRoutes(v1 fiber.Router) {
	// DESIGN §4: supervisor+ (supervisor, admin) and developer.
	v1.Get("/reports/operations", s.operationsReport)
}

// mayReadReports: supervisor and admin (supervisor+) and developer.
func mayReadReports(r access.Role) bool {
	return r.Allows(access.RoleSupervisor) || r.Allows(access.RoleDeveloper)
}

// operationsReport answers GET /v1/reports/operations?from&to: JSON, or CSV
// for Accept: text/csv. The read is audited before the report leaves.
func (s *Server) operationsReport(c *fiber.Ctx) error {
	p := mustPrincipal(c)
	if !mayReadReports(p.Role) {
		return forbidden("reports need a supervisor, admin or developer key; the key has " + string(p.Role))
	}
	svc := s.deps.Reports
	if svc == nil {
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "reports are not enabled on this server"}
	}
	from, to, err := svc.ParseRange(c.Query("from"), c.Query("to"))
	if re := (*reports.RangeError)(nil); errors.As(err, &re) {
		return badRequest("invalid range", FieldError{re.Field, re.Message})
	}
	if err != nil {
		return err
	}
	rep, err := svc.OperationsFor(c.UserContext(), from, to, p.Clearance)
	if err != nil {
		return err
	}
	format := "json"
	if c.Accepts(fiber.MIMEApplicationJSON, "text/csv") == "text/csv" {
		format = "csv"
	}
	err = s.deps.Audit.Audit(c.UserContext(), audit.Entry{Actor: p.KeyID, Kind: kindReportRead, Subject: "operations",
		Payload: map[string]any{"from": from.UTC(), "to": to.UTC(), "format": format, "role": p.Role}})
	if err != nil {
		s.log.Error("audit of a report read failed", "err", err, "request_id", requestID(c))
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the read could not be audited; try again"}
	}
	if format == "json" {
		return c.JSON(rep)
	}
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="operations-report.csv"`)
	return c.Send(buf.Bytes())
}
