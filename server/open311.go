package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/store"
)

// open311Prefix is where the Open311 GeoReport v2 facade lives. Its errors
// are GeoReport error arrays, not problem details.
const open311Prefix = "/open311/v2"

// open311Error is one entry of a GeoReport error array.
type open311Error struct {
	Code        int    `json:"code" xml:"code"`
	Description string `json:"description" xml:"description"`
}

// open311Routes registers the facade. services are public; posting and
// reading requests need api_key = a cityagent key whose role allows the
// hotline (service requests carry citizens' words and places).
func (s *Server) open311Routes(app *fiber.App) {
	g := app.Group(open311Prefix)
	g.Get("/services.:format", s.open311Services)
	g.Get("/services/:code.:format", s.open311Definition)
	g.Post("/requests.:format", s.open311Post)
	g.Get("/requests.:format", s.open311List)
	g.Get("/requests/:id.:format", s.open311Get)
	g.Get("/tokens/:token.:format", s.open311Token)
}

// open311Problem writes err as a GeoReport error array with the status and
// detail problemFor gives it; a 500's cause is logged.
func (s *Server) open311Problem(c *fiber.Ctx, err error) error {
	var ie *hotline.InputError
	switch {
	case errors.As(err, &ie):
		return open311Fail(c, fiber.StatusBadRequest, ie.Field+": "+ie.Message)
	}
	p := s.problemFor(err)
	switch p.Status {
	case fiber.StatusConflict, fiber.StatusServiceUnavailable:
		c.Set(fiber.HeaderRetryAfter, "1")
	case fiber.StatusInternalServerError:
		s.log.Error("open311 request failed", "err", err, "path", c.Path(), "request_id", requestID(c))
	}
	return open311Fail(c, p.Status, p.Detail)
}

func (s *Server) open311Hotline(c *fiber.Ctx) (HotlineService, bool, error) {
	if s.deps.Hotline == nil {
		return nil, false, open311Fail(c, fiber.StatusServiceUnavailable, "the hotline is not enabled on this server")
	}
	if ok, err := checkOpen311Format(c); !ok {
		return nil, false, err
	}
	return s.deps.Hotline, true, nil
}

// open311Principal authenticates an api_key: a cityagent key whose role
// allows the hotline.
func (s *Server) open311Principal(c *fiber.Ctx, apiKey string) (access.Principal, bool, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return access.Principal{}, false, open311Fail(c, fiber.StatusBadRequest, "api_key is required")
	}
	k, err := s.deps.Keys.KeyByHash(c.UserContext(), access.HashKey(apiKey))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !k.Active(s.deps.Now())) {
		return access.Principal{}, false, open311Fail(c, fiber.StatusForbidden, "invalid api_key")
	}
	if err != nil {
		return access.Principal{}, false, s.open311Problem(c, err)
	}
	if !k.Role.Allows(access.RoleHotline) {
		return access.Principal{}, false, open311Fail(c, fiber.StatusForbidden, "this api_key's role ("+string(k.Role)+") may not use service requests")
	}
	p := access.Principal{KeyID: k.ID, Name: k.Name, Role: k.Role, Clearance: k.Clearance}
	c.Locals(principalKey, p)
	return p, true, nil
}

func (s *Server) open311Services(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	list := svc.Taxonomy().Open311Services()
	return open311Write(c, list, xmlServices{Services: list})
}

func (s *Server) open311Definition(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	d, found := svc.Taxonomy().Open311Definition(c.Params("code"))
	if !found {
		return open311Fail(c, fiber.StatusNotFound, fmt.Sprintf("unknown service_code %q", c.Params("code")))
	}
	return open311Write(c, d, d)
}

// open311Form reads a form-encoded (or multipart) body strictly: a body
// that is not a well-formed form is an error, never an empty form.
func open311Form(c *fiber.Ctx) (url.Values, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(string(c.Request().Header.ContentType()), ";")[0]))
	switch ct {
	case fiber.MIMEApplicationForm:
		v, err := url.ParseQuery(string(c.Body()))
		if err != nil {
			return nil, errors.New("the form body is malformed: " + err.Error())
		}
		return v, nil
	case fiber.MIMEMultipartForm:
		f, err := c.MultipartForm()
		if err != nil {
			return nil, errors.New("the multipart form body is malformed")
		}
		if len(f.File) > 0 {
			return nil, errors.New("file uploads are not accepted; send media_url instead")
		}
		return url.Values(f.Value), nil
	}
	return nil, errors.New("send the request as application/x-www-form-urlencoded")
}

// open311Post creates a service request: a hotline ticket in the service's
// category, triaged for type, urgency and deadline.
func (s *Server) open311Post(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	form, ferr := open311Form(c)
	if ferr != nil {
		return open311Fail(c, fiber.StatusBadRequest, ferr.Error())
	}
	p, ok, err := s.open311Principal(c, form.Get("api_key"))
	if !ok {
		return err
	}
	post, err := hotline.ParseOpen311Post(form)
	if err != nil {
		return s.open311Problem(c, err)
	}
	tax := svc.Taxonomy()
	if _, found := tax.Category(post.ServiceCode); !found {
		return open311Fail(c, fiber.StatusNotFound, fmt.Sprintf("unknown service_code %q", post.ServiceCode))
	}
	attrs, err := tax.CheckAttributes(post.ServiceCode, post.Attributes)
	if err != nil {
		return s.open311Problem(c, err)
	}
	req, stored := post.CreateRequest(tax, attrs)
	key := c.Get("Idempotency-Key")
	out, err := svc.Create(c.UserContext(), req, hotline.CreateOptions{Principal: p, IdempotencyKey: key, Scope: "open311",
		Category: post.ServiceCode, Attributes: stored})
	if err != nil {
		return s.open311Problem(c, err)
	}
	if out.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	t := out.Ticket
	c.Status(fiber.StatusCreated)
	list := []hotline.Open311Created{{ServiceRequestID: t.ID, Token: t.Token, ServiceNotice: t.ServiceNotice(s.hotlineLocation())}}
	return open311Write(c, list, xmlServiceRequests[hotline.Open311Created]{Requests: list})
}

func (s *Server) hotlineLocation() *time.Location {
	if l, ok := s.deps.Hotline.(interface{ Location() *time.Location }); ok && l.Location() != nil {
		return l.Location()
	}
	return time.UTC
}

// open311MaxWindow is the longest start_date–end_date span GeoReport allows.
const open311MaxWindow = 90 * 24 * time.Hour

func parseW3C(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a W3C date")
}

// open311List lists service requests: by service_request_id (comma
// separated; the other filters are then ignored), or by service_code,
// status (open, closed) and start_date/end_date (at most 90 days; default
// the last 90 days), newest first, page and page_size (≤ 1000).
func (s *Server) open311List(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	if _, ok, err := s.open311Principal(c, c.Query("api_key")); !ok {
		return err
	}
	tax := svc.Taxonomy()
	f := hotline.ListFilter{Limit: 1000}
	split := func(v string) []string {
		var out []string
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	if ids := split(c.Query("service_request_id")); len(ids) > 0 {
		if len(ids) > 1000 {
			return open311Fail(c, fiber.StatusBadRequest, "service_request_id: at most 1000 ids")
		}
		f.IDs = ids
	} else {
		for _, code := range split(c.Query("service_code")) {
			if _, found := tax.Category(code); !found {
				return open311Fail(c, fiber.StatusBadRequest, fmt.Sprintf("service_code: unknown service_code %q", code))
			}
			f.Categories = append(f.Categories, code)
		}
		for _, st := range split(c.Query("status")) {
			switch st {
			case "open", "closed":
				// Merged tickets are finished: Open311 "closed".
				for _, x := range hotline.Statuses {
					if hotline.Open311Status(x) == st {
						f.Statuses = append(f.Statuses, x)
					}
				}
			default:
				return open311Fail(c, fiber.StatusBadRequest, "status: must be open or closed")
			}
		}
		end := s.deps.Now()
		if v := c.Query("end_date"); v != "" {
			if end, err = parseW3C(v); err != nil {
				return open311Fail(c, fiber.StatusBadRequest, "end_date: must be a W3C date such as 2026-03-01T00:00:00+08:00")
			}
		}
		start := end.Add(-open311MaxWindow)
		if v := c.Query("start_date"); v != "" {
			if start, err = parseW3C(v); err != nil {
				return open311Fail(c, fiber.StatusBadRequest, "start_date: must be a W3C date such as 2026-03-01T00:00:00+08:00")
			}
		}
		if !start.Before(end) || end.Sub(start) > open311MaxWindow {
			return open311Fail(c, fiber.StatusBadRequest, "start_date must be before end_date, at most 90 days apart")
		}
		f.From, f.To = start, end
		size, perr := hotlineQueryInt(c, "page_size", 1000, 1, 1000)
		page, perr2 := hotlineQueryInt(c, "page", 1, 1, 1000000)
		if perr != nil || perr2 != nil {
			return open311Fail(c, fiber.StatusBadRequest, "page and page_size must be positive integers (page_size at most 1000)")
		}
		f.Limit, f.Offset = size, (page-1)*size
	}
	list, err := svc.List(c.UserContext(), f)
	if err != nil {
		return s.open311Problem(c, err)
	}
	loc := s.hotlineLocation()
	out := make([]hotline.Open311Request, 0, len(list))
	for _, t := range list {
		out = append(out, t.Open311(loc))
	}
	return open311Write(c, out, xmlServiceRequests[hotline.Open311Request]{Requests: out})
}

func (s *Server) open311Get(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	if _, ok, err := s.open311Principal(c, c.Query("api_key")); !ok {
		return err
	}
	t, err := svc.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return s.open311Problem(c, err)
	}
	list := []hotline.Open311Request{t.Open311(s.hotlineLocation())}
	return open311Write(c, list, xmlServiceRequests[hotline.Open311Request]{Requests: list})
}

func (s *Server) open311Token(c *fiber.Ctx) error {
	svc, ok, err := s.open311Hotline(c)
	if !ok {
		return err
	}
	if _, ok, err := s.open311Principal(c, c.Query("api_key")); !ok {
		return err
	}
	t, err := svc.GetByToken(c.UserContext(), c.Params("token"))
	if err != nil {
		return s.open311Problem(c, err)
	}
	list := []hotline.Open311Token{{ServiceRequestID: t.ID, Token: t.Token}}
	return open311Write(c, list, xmlServiceRequests[hotline.Open311Token]{Requests: list})
}

// isOpen311Path reports a path of the facade, whose errors — those raised
// before a handler runs too (an oversized body, an unknown path) — answer
// in the GeoReport format.
func isOpen311Path(path string) bool {
	return strings.HasPrefix(path, open311Prefix+"/") || path == open311Prefix
}
