package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
)

// HotlineResults is what the results routes call; *hotline.Service
// implements it.
type HotlineResults interface {
	Results(ctx context.Context, from, to time.Time, department string) (hotline.Results, error)
	Hotspots(ctx context.Context, q hotline.HotspotQuery) (hotline.Hotspots, error)
}

var _ HotlineResults = (*hotline.Service)(nil)

// hotlineResultRoutes registers the results (stats: hotline, supervisor,
// admin, and department keys for their own department) and the hot spots
// (hotline, supervisor, admin). Registered before the hotline group, whose
// role check would turn department keys away.
func (s *Server) hotlineResultRoutes(v1 fiber.Router) {
	v1.Get("/hotline/stats", s.requireAny(access.RoleHotline, access.RoleDepartment), s.hotlineResults)
	v1.Get("/hotline/hotspots", s.require(access.RoleHotline), s.hotlineHotspots)
}

func (s *Server) results() (HotlineResults, error) {
	svc, err := s.hotline()
	if err != nil {
		return nil, err
	}
	r, ok := svc.(HotlineResults)
	if !ok {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "this hotline does not report results"}
	}
	return r, nil
}

// periodQuery reads from and to (RFC 3339, both required).
func periodQuery(c *fiber.Ctx) (from, to time.Time, errs []FieldError) {
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := c.Query(p.name)
		if v == "" {
			errs = append(errs, FieldError{p.name, "is required: an RFC 3339 time such as 2026-03-01T00:00:00+08:00"})
			continue
		}
		x, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, FieldError{p.name, "must be an RFC 3339 time such as 2026-03-01T00:00:00+08:00"})
			continue
		}
		*p.dst = x
	}
	return from, to, errs
}

// hotlineResults reports, per department over [from, to), the results the
// 接诉即办 assessment uses: received, on-time handling, response, solved
// and satisfaction rates, returned and reopened counts, overdue now and
// mean handling time (?department= one department). A department key
// sees only its own department.
func (s *Server) hotlineResults(c *fiber.Ctx) error {
	rs, err := s.results()
	if err != nil {
		return err
	}
	from, to, errs := periodQuery(c)
	dept := c.Query("department")
	if p := mustPrincipal(c); p.Role == access.RoleDepartment {
		if dept != "" && dept != p.Department {
			return forbidden("a department key reads only its own department's results")
		}
		dept = p.Department
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	out, err := rs.Results(c.UserContext(), from, to, dept)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// hotlineHotspots lists recurring problems by place and category over
// [from, to) with their trend against the previous period of equal length:
// ?category (a code or prefix), min (tickets, default 2), limit (1–100,
// default 20), offset.
func (s *Server) hotlineHotspots(c *fiber.Ctx) error {
	rs, err := s.results()
	if err != nil {
		return err
	}
	from, to, errs := periodQuery(c)
	q := hotline.HotspotQuery{From: from, To: to, Category: c.Query("category")}
	if q.Category != "" && (len(q.Category)%2 != 0 || len(q.Category) > 6 || trimDigits(q.Category) != "") {
		errs = append(errs, FieldError{"category", "must be a category code or its 2- or 4-digit prefix"})
	}
	for _, p := range []struct {
		name         string
		dst          *int
		def, lo, max int
	}{{"min", &q.Min, 2, 1, 10000}, {"limit", &q.Limit, 20, 1, 100}, {"offset", &q.Offset, 0, 0, 1000000}} {
		n, ferr := hotlineQueryInt(c, p.name, p.def, p.lo, p.max)
		if ferr != nil {
			errs = append(errs, *ferr)
		}
		*p.dst = n
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	out, err := rs.Hotspots(c.UserContext(), q)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func trimDigits(s string) string {
	for len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		s = s[1:]
	}
	return s
}
