package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/usererr"
)

// LifecycleService is what the ticket lifecycle routes call;
// *hotline.Service implements it.
type LifecycleService interface {
	Queue(ctx context.Context, by access.Principal, f hotline.QueueFilter) ([]hotline.Ticket, string, error)
	Act(ctx context.Context, id string, by access.Principal, req hotline.ActRequest) (hotline.Ticket, hotline.Transition, error)
	History(ctx context.Context, id string, by access.Principal) (hotline.Ticket, []hotline.Transition, error)
}

var _ LifecycleService = (*hotline.Service)(nil)

// ReplyDrafter composes reply drafts; *hotline.Service implements it.
type ReplyDrafter interface {
	ReplyDraft(ctx context.Context, id string, by access.Principal, req hotline.DraftRequest) (hotline.ReplyDraft, error)
}

var _ ReplyDrafter = (*hotline.Service)(nil)

// lifecycleRoutes registers the ticket lifecycle (DESIGN §4): the queue and
// the department's actions for department keys (their own department's
// tickets only; the hotline decides which) and supervisors; the return
// visit for the hotline centre and supervisors; re-dispatch for
// supervisors. They are registered before the hotline group, whose role
// check would turn department keys away.
func (s *Server) lifecycleRoutes(v1 fiber.Router) {
	dept := s.requireAny(access.RoleDepartment)
	v1.Get("/hotline/queue", dept, s.hotlineQueue)
	v1.Get("/hotline/tickets/:id/transitions", s.requireAny(access.RoleDepartment, access.RoleHotline), s.ticketTransitions)
	for _, a := range []hotline.Action{hotline.ActionAccept, hotline.ActionReturn, hotline.ActionProgress, hotline.ActionReply,
		hotline.ActionMerge, hotline.ActionDispatch} {
		guard := dept
		if a == hotline.ActionDispatch {
			guard = s.requireSupervisor("dispatch")
		}
		v1.Post("/hotline/tickets/:id/"+string(a), guard, s.ticketAction(a))
	}
	v1.Post("/hotline/tickets/:id/visit", s.requireAny(access.RoleHotline, access.RoleDepartment), s.ticketAction(hotline.ActionVisit))
	v1.Post("/hotline/tickets/:id/reply-draft", dept, s.ticketReplyDraft)
}

// draftBody is the body of POST /v1/hotline/tickets/{id}/reply-draft
// (optional): further notes of the department to state in the draft.
type draftBody struct {
	Notes string `json:"notes"`
}

// ticketReplyDraft composes a reply draft from the department's notes and
// the knowledge base, for the department (its own tickets) or a
// supervisor to edit and post with …/reply. Nothing is sent or stored.
func (s *Server) ticketReplyDraft(c *fiber.Ctx) error {
	rd, ok := s.deps.Hotline.(ReplyDrafter)
	if !ok {
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "reply drafts are not enabled on this server"}
	}
	var b draftBody
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
	}
	d, err := rd.ReplyDraft(c.UserContext(), c.Params("id"), mustPrincipal(c), hotline.DraftRequest{Notes: b.Notes})
	if err != nil {
		return retryAfter(c, lifecycleProblem(err))
	}
	return c.JSON(d)
}

// requireAny admits principals whose role allows one of roles.
func (s *Server) requireAny(roles ...access.Role) fiber.Handler {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return func(c *fiber.Ctx) error {
		p, ok := principalOf(c)
		if !ok {
			return unauthorized("authentication required")
		}
		for _, r := range roles {
			if p.Role.Allows(r) {
				return c.Next()
			}
		}
		return forbidden("this route needs the " + strings.Join(names, " or ") + " role (or supervisor); the key has " + string(p.Role))
	}
}

// requireSupervisor admits supervisors (and admins) only, saying so.
func (s *Server) requireSupervisor(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, ok := principalOf(c)
		if !ok {
			return unauthorized("authentication required")
		}
		if p.Role.Allows(access.RoleSupervisor) {
			return c.Next()
		}
		return forbidden(action + " is supervisor-only: this route needs the supervisor role; the key has " + string(p.Role))
	}
}

func (s *Server) lifecycle() (LifecycleService, error) {
	ls, ok := s.deps.Hotline.(LifecycleService)
	if !ok {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the hotline ticket lifecycle is not enabled on this server"}
	}
	return ls, nil
}

// lifecycleProblem maps the lifecycle's own errors: an illegal transition
// is 409 with the allowed next statuses, a role that does not take the
// action 403. Others go to the common mapping.
func lifecycleProblem(err error) error {
	var te *hotline.TransitionError
	if errors.As(err, &te) {
		actions := make([]string, len(te.Actions))
		for i, a := range te.Actions {
			actions[i] = string(a)
		}
		next := "it is finished"
		if len(actions) > 0 {
			next = "actions that apply now: " + strings.Join(actions, ", ")
		}
		return &Problem{Status: fiber.StatusConflict, Title: "Conflict", AllowedNext: te.Allowed,
			Detail: fmt.Sprintf("ticket %s is %s: %s does not apply; %s", te.TicketID, te.Status, te.Action, next)}
	}
	if errors.Is(err, hotline.ErrForbidden) {
		msg, _ := usererr.Message(err)
		return forbidden(msg)
	}
	return err
}

// hotlineQueue lists a queue, the nearest deadline first: a department
// key's own department's open tickets; a supervisor's every open ticket,
// or ?department=. Filters: status, overdue=true (escalated), limit
// (1–100), after (cursor: next_after).
func (s *Server) hotlineQueue(c *fiber.Ctx) error {
	ls, err := s.lifecycle()
	if err != nil {
		return err
	}
	f := hotline.QueueFilter{Department: c.Query("department"), Status: c.Query("status"), After: c.Query("after")}
	var errs []FieldError
	if v := c.Query("overdue"); v != "" {
		switch v {
		case "true":
			f.Overdue = true
		case "false":
		default:
			errs = append(errs, FieldError{"overdue", "must be true or false"})
		}
	}
	limit, ferr := hotlineQueryInt(c, "limit", 20, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	f.Limit = limit
	list, next, err := ls.Queue(c.UserContext(), mustPrincipal(c), f)
	if err != nil {
		return lifecycleProblem(err)
	}
	return c.JSON(fiber.Map{"tickets": list, "next_after": next})
}

// ticketTransitions shows a ticket with its transitions, oldest first.
func (s *Server) ticketTransitions(c *fiber.Ctx) error {
	ls, err := s.lifecycle()
	if err != nil {
		return err
	}
	t, trs, err := ls.History(c.UserContext(), c.Params("id"), mustPrincipal(c))
	if err != nil {
		return lifecycleProblem(err)
	}
	return c.JSON(fiber.Map{"ticket": t, "transitions": trs})
}

// The bodies of the lifecycle actions; unknown fields are refused.
type (
	noteBody struct {
		Note string `json:"note"`
	}
	returnBody struct {
		Reason string `json:"reason"`
	}
	progressBody struct {
		Note              string `json:"note"`
		WaitingForCitizen bool   `json:"waiting_for_citizen"`
	}
	replyBody struct {
		Text string `json:"text"`
	}
	visitBody struct {
		Satisfaction string `json:"satisfaction"`
		Solved       *bool  `json:"solved"`
		Note         string `json:"note"`
	}
	mergeBody struct {
		Into string `json:"into"`
		Note string `json:"note"`
	}
	dispatchBody struct {
		Department string `json:"department"`
		Note       string `json:"note"`
	}
)

// actRequest decodes the body of action a.
func actRequest(c *fiber.Ctx, a hotline.Action) (hotline.ActRequest, error) {
	req := hotline.ActRequest{Action: a}
	var err error
	switch a {
	case hotline.ActionAccept:
		var b noteBody
		if len(strings.TrimSpace(string(c.Body()))) > 0 {
			err = decodeJSON(c, &b)
		}
		req.Note = b.Note
	case hotline.ActionReturn:
		var b returnBody
		err = decodeJSON(c, &b)
		req.Note = b.Reason
	case hotline.ActionProgress:
		var b progressBody
		err = decodeJSON(c, &b)
		req.Note, req.WaitingForCitizen = b.Note, b.WaitingForCitizen
	case hotline.ActionReply:
		var b replyBody
		err = decodeJSON(c, &b)
		req.Note = b.Text
	case hotline.ActionVisit:
		var b visitBody
		err = decodeJSON(c, &b)
		req.Satisfaction, req.Solved, req.Note = b.Satisfaction, b.Solved, b.Note
	case hotline.ActionMerge:
		var b mergeBody
		err = decodeJSON(c, &b)
		req.Into, req.Note = b.Into, b.Note
	case hotline.ActionDispatch:
		var b dispatchBody
		err = decodeJSON(c, &b)
		req.Department, req.Note = b.Department, b.Note
	}
	return req, err
}

// ticketAction takes lifecycle action a on a ticket and answers the ticket
// as it is afterwards with the transition recorded.
func (s *Server) ticketAction(a hotline.Action) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ls, err := s.lifecycle()
		if err != nil {
			return err
		}
		req, err := actRequest(c, a)
		if err != nil {
			return err
		}
		t, tr, err := ls.Act(c.UserContext(), c.Params("id"), mustPrincipal(c), req)
		if err != nil {
			return retryAfter(c, lifecycleProblem(err))
		}
		return c.JSON(fiber.Map{"ticket": t, "transition": tr})
	}
}
