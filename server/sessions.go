package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
)

type eventView struct {
	Seq  int64           `json:"seq"`
	Turn int             `json:"turn"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	At   time.Time       `json:"at"`
}

type sessionView struct {
	ID        string      `json:"id"`
	Agent     string      `json:"agent"`
	Title     string      `json:"title"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	Events    []eventView `json:"events,omitempty"`
}

func (s *Server) getSession(c *fiber.Ctx) error {
	p := mustPrincipal(c)
	sess, err := s.deps.Sessions.GetSession(c.UserContext(), c.Params("id"))
	// Another key's session looks exactly like a missing one.
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.OwnerKeyID != p.KeyID && p.Role != access.RoleAdmin) {
		return notFound("unknown session")
	}
	if err != nil {
		return err
	}
	evs, err := s.deps.Sessions.Events(c.UserContext(), sess.ID)
	if err != nil {
		return err
	}
	v := sessionView{ID: sess.ID, Agent: sess.Agent, Title: sess.Title, CreatedAt: sess.CreatedAt, UpdatedAt: sess.UpdatedAt, Events: []eventView{}}
	for _, e := range evs {
		v.Events = append(v.Events, eventView{Seq: e.Seq, Turn: e.Turn, Type: e.Type, Data: e.Data, At: e.CreatedAt})
	}
	return c.JSON(v)
}

// listSessions pages through the caller's own sessions, newest first.
func (s *Server) listSessions(c *fiber.Ctx) error {
	limit := 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return badRequest("invalid query", FieldError{"limit", "must be an integer from 1 to 100"})
		}
		limit = n
	}
	list, err := s.deps.Sessions.ListSessions(c.UserContext(), mustPrincipal(c).KeyID, limit+1, c.Query("before"))
	if err != nil {
		return err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	out := make([]sessionView, 0, len(list))
	for _, se := range list {
		out = append(out, sessionView{ID: se.ID, Agent: se.Agent, Title: se.Title, CreatedAt: se.CreatedAt, UpdatedAt: se.UpdatedAt})
	}
	return c.JSON(fiber.Map{"sessions": out, "next_before": next})
}
