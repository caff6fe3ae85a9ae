package server

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
)

// HotlineService is what the hotline and Open311 routes call;
// *hotline.Service implements it.
type HotlineService interface {
	Create(ctx context.Context, req hotline.CreateRequest, opt hotline.CreateOptions) (hotline.Created, error)
	Get(ctx context.Context, id string) (hotline.Ticket, error)
	GetByToken(ctx context.Context, token string) (hotline.Ticket, error)
	List(ctx context.Context, f hotline.ListFilter) ([]hotline.Ticket, error)
	Close(ctx context.Context, id, resolution string, by access.Principal) (hotline.Ticket, error)
	Stats(ctx context.Context, f hotline.ListFilter) (hotline.Stats, error)
	Taxonomy() *hotline.Taxonomy
}

var _ HotlineService = (*hotline.Service)(nil)

// hotlineRoutes registers the hotline API: role hotline, or a role that
// allows it (supervisor, admin). Hotline keys reach nothing else but the
// hotline agent.
func (s *Server) hotlineRoutes(v1 fiber.Router) {
	h := v1.Group("/hotline", s.require(access.RoleHotline))
	h.Post("/tickets", s.createTicket)
	h.Get("/tickets", s.listTickets)
	h.Get("/tickets/:id", s.getTicket)
	h.Post("/tickets/:id/close", s.closeTicket)
	h.Get("/taxonomy", s.hotlineTaxonomy)
}

func (s *Server) hotline() (HotlineService, error) {
	if s.deps.Hotline == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the hotline is not enabled on this server"}
	}
	return s.deps.Hotline, nil
}

// retryAfter tells clients of conflicts and outages when to retry.
func retryAfter(c *fiber.Ctx, err error) error {
	if errors.Is(err, hotline.ErrIdempotencyInFlight) || errors.Is(err, hotline.ErrUnavailable) {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return err
}

// createTicket triages a citizen's request within the hotline deadline.
// Idempotency-Key: the same key and body replay the first answer (same
// status and body, with Idempotent-Replayed: true); the same key with
// another body is 422.
func (s *Server) createTicket(c *fiber.Ctx) error {
	svc, err := s.hotline()
	if err != nil {
		return err
	}
	var req hotline.CreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if key != "" {
		if err := hotline.CheckIdempotencyKey(key); err != nil {
			return err
		}
	}
	out, err := svc.Create(c.UserContext(), req, hotline.CreateOptions{Principal: mustPrincipal(c), IdempotencyKey: key, Scope: "v1"})
	if err != nil {
		return retryAfter(c, err)
	}
	if out.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Location("/v1/hotline/tickets/" + out.Ticket.ID)
	c.Status(fiber.StatusCreated)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(out.Raw)
}

func (s *Server) getTicket(c *fiber.Ctx) error {
	svc, err := s.hotline()
	if err != nil {
		return err
	}
	if c.Query("reveal") != "" {
		return s.revealTicket(c, svc) // server/hotline_personal.go
	}
	t, err := svc.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// listTickets pages through tickets newest first: ?status, type, category
// (a code or prefix), department, urgency, channel, degraded, overdue,
// from, to (RFC 3339, received time), limit (1–100), before (cursor).
func (s *Server) listTickets(c *fiber.Ctx) error {
	svc, err := s.hotline()
	if err != nil {
		return err
	}
	f, errs := s.ticketFilter(c, svc.Taxonomy())
	limit, ferr := hotlineQueryInt(c, "limit", 20, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	f.Limit = limit + 1
	f.Before = c.Query("before")
	list, err := svc.List(c.UserContext(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return c.JSON(fiber.Map{"tickets": list, "next_before": next})
}

// ticketFilter reads the filters tickets lists and stats share.
func (s *Server) ticketFilter(c *fiber.Ctx, tax *hotline.Taxonomy) (hotline.ListFilter, []FieldError) {
	f := hotline.ListFilter{Status: c.Query("status"), Type: c.Query("type"), Category: c.Query("category"), Department: c.Query("department"),
		Urgency: c.Query("urgency"), Channel: c.Query("channel")}
	var errs []FieldError
	if f.Status != "" && !slices.Contains(hotline.Statuses, f.Status) {
		errs = append(errs, FieldError{"status", "must be one of " + strings.Join(hotline.Statuses, ", ")})
	}
	if _, ok := tax.Type(f.Type); f.Type != "" && !ok {
		errs = append(errs, FieldError{"type", "is not a request type"})
	}
	if _, ok := tax.Department(f.Department); f.Department != "" && !ok {
		errs = append(errs, FieldError{"department", "is not a department"})
	}
	if _, ok := tax.Urgency(f.Urgency); f.Urgency != "" && !ok {
		errs = append(errs, FieldError{"urgency", "is not an urgency level"})
	}
	if f.Category != "" && (len(f.Category)%2 != 0 || len(f.Category) > 6 || strings.Trim(f.Category, "0123456789") != "") {
		errs = append(errs, FieldError{"category", "must be a category code or its 2- or 4-digit prefix"})
	}
	for _, b := range []struct {
		name string
		dst  func(bool)
	}{{"degraded", func(v bool) { f.Degraded = &v }}, {"overdue", func(v bool) { f.Overdue = v }}} {
		if v := c.Query(b.name); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, FieldError{b.name, "must be true or false"})
				continue
			}
			b.dst(x)
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := c.Query(t.name); v != "" {
			x, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, FieldError{t.name, "must be an RFC 3339 time such as 2026-03-01T00:00:00+08:00"})
				continue
			}
			*t.dst = x
		}
	}
	return f, errs
}

func hotlineQueryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, *FieldError) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return def, &FieldError{name, "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
	}
	return n, nil
}

type closeRequest struct {
	Resolution string `json:"resolution"`
}

// closeTicket closes a ticket with a resolution through the lifecycle's
// transition table: one the hotline centre answered itself, or one replied
// to that closes without a return visit. Any other status is 409 with the
// statuses allowed next.
func (s *Server) closeTicket(c *fiber.Ctx) error {
	svc, err := s.hotline()
	if err != nil {
		return err
	}
	var req closeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := svc.Close(c.UserContext(), c.Params("id"), req.Resolution, mustPrincipal(c))
	if err != nil {
		return retryAfter(c, lifecycleProblem(err))
	}
	return c.JSON(t)
}

// hotlineTaxonomy shows the rules the hotline triages by.
func (s *Server) hotlineTaxonomy(c *fiber.Ctx) error {
	svc, err := s.hotline()
	if err != nil {
		return err
	}
	t := svc.Taxonomy()
	return c.JSON(fiber.Map{"version": t.Version, "standard": t.Standard, "types": t.Types, "urgencies": t.Urgencies,
		"deadlines": t.Deadlines, "departments": t.Departments, "categories": t.Categories()})
}
