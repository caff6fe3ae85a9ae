package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	cl, err := s.sessionClearance(c.UserContext(), sess, evs)
	if err != nil {
		return err
	}
	if !p.Clearance.Covers(cl) {
		return forbidden(fmt.Sprintf("the session holds content at clearance %s; the key has clearance %s", cl, p.Clearance))
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

// sessionClearance is the highest clearance a session's transcript may
// hold. Sessions do not store one, so it is derived: the clearance of the
// key that owns it (its turns read nothing above that), raised by what its
// answers record having read (an admin may have continued it). An owner
// that is no key, or no longer one, (an eval run, the CLI) could have acted
// at any clearance: restricted.
func (s *Server) sessionClearance(ctx context.Context, sess store.Session, evs []store.Event) (access.Clearance, error) {
	cl := access.Restricted
	k, err := s.deps.Keys.GetKey(ctx, sess.OwnerKeyID)
	switch {
	case err == nil:
		cl = k.Clearance
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("server: owner of session %s: %w", sess.ID, err)
	}
	for _, e := range evs {
		var d struct {
			Clearance access.Clearance `json:"clearance"`
		}
		if len(e.Data) == 0 || e.Data[0] != '{' || json.Unmarshal(e.Data, &d) != nil || d.Clearance == "" {
			continue
		}
		if d.Clearance.Rank() > cl.Rank() {
			cl = d.Clearance
		}
	}
	return cl, nil
}
