package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// ProposalService is what the proposal routes call (actions.Service). It
// applies the approval rules and audits every decision and refusal.
type ProposalService interface {
	Types() []actions.TypeInfo
	List(ctx context.Context, f actions.ListFilter, viewer access.Principal) ([]actions.Proposal, error)
	Get(ctx context.Context, id string, viewer access.Principal) (actions.Proposal, error)
	Approve(ctx context.Context, id string, by access.Principal, comment string) (actions.Proposal, error)
	Reject(ctx context.Context, id string, by access.Principal, comment string) (actions.Proposal, error)
}

var _ ProposalService = (*actions.Service)(nil)

// governanceRoutes registers the action types, proposals and audit routes.
// Deciding is open to every key at the route: the service decides who may,
// so that each refusal is audited with its reason.
func (s *Server) governanceRoutes(v1 fiber.Router) {
	v1.Get("/actions", s.require(access.RoleOperator), s.listActionTypes)
	v1.Get("/proposals", s.require(access.RoleOperator), s.listProposals)
	v1.Get("/proposals/:id", s.require(access.RoleOperator), s.getProposal)
	v1.Post("/proposals/:id/approve", s.decideProposal(true))
	v1.Post("/proposals/:id/reject", s.decideProposal(false))
	v1.Get("/audit", s.require(access.RoleDeveloper), s.listAudit)
	v1.Get("/audit/verify", s.require(access.RoleDeveloper), s.verifyAudit)
}

func (s *Server) proposals() (ProposalService, error) {
	if s.deps.Proposals == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "governed actions are not enabled on this server"}
	}
	return s.deps.Proposals, nil
}

func (s *Server) listActionTypes(c *fiber.Ctx) error {
	svc, err := s.proposals()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"actions": svc.Types()})
}

var proposalStatuses = []string{actions.StatusProposed, actions.StatusApproved, actions.StatusExecuted, actions.StatusFailed, actions.StatusRejected, actions.StatusExpired}

// listProposals pages through the proposals the caller's clearance covers,
// newest first: ?status, action, agent, session_id, limit (1–100), before.
func (s *Server) listProposals(c *fiber.Ctx) error {
	svc, err := s.proposals()
	if err != nil {
		return err
	}
	f := actions.ListFilter{Status: c.Query("status"), Action: c.Query("action"), Agent: c.Query("agent"), SessionID: c.Query("session_id"), Before: c.Query("before")}
	var errs []FieldError
	if f.Status != "" && !contains(proposalStatuses, f.Status) {
		errs = append(errs, FieldError{"status", "must be one of " + strings.Join(proposalStatuses, ", ")})
	}
	limit, ferr := queryInt(c, "limit", 20, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	f.Limit = limit + 1
	list, err := svc.List(c.UserContext(), f, mustPrincipal(c))
	if err != nil {
		return err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return c.JSON(fiber.Map{"proposals": list, "next_before": next})
}

func (s *Server) getProposal(c *fiber.Ctx) error {
	svc, err := s.proposals()
	if err != nil {
		return err
	}
	p, err := svc.Get(c.UserContext(), c.Params("id"), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// DecisionRequest is the body of POST /v1/proposals/{id}/approve|reject;
// the body may be left out.
type DecisionRequest struct {
	Comment string `json:"comment"`
}

func (s *Server) decideProposal(approve bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		svc, err := s.proposals()
		if err != nil {
			return err
		}
		var req DecisionRequest
		if len(strings.TrimSpace(string(c.Body()))) > 0 {
			if err := decodeJSON(c, &req); err != nil {
				return err
			}
		}
		if len([]rune(req.Comment)) > 1000 {
			return badRequest("the request is invalid", FieldError{"comment", "must be at most 1000 characters"})
		}
		decide := svc.Reject
		if approve {
			decide = svc.Approve
		}
		p, err := decide(c.UserContext(), c.Params("id"), mustPrincipal(c), req.Comment)
		if err != nil {
			return err
		}
		return c.JSON(p)
	}
}

// AuditLog is the audit chain the audit routes read (store.DB).
type AuditLog interface {
	audit.Source
	ListAudit(ctx context.Context, f store.AuditFilter) ([]audit.Record, error)
}

// listAudit pages through the audit log: newest first below ?before, or
// oldest first above ?after; filters kind (exact, or a prefix ending in
// "."), actor and subject; limit 1–500.
func (s *Server) listAudit(c *fiber.Ctx) error {
	if s.deps.AuditLog == nil {
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the audit log is not enabled on this server"}
	}
	var errs []FieldError
	limit, ferr := queryInt(c, "limit", 100, 1, 500)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	before, ferr := queryInt(c, "before", 0, 1, 1<<62)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	after, ferr := queryInt(c, "after", 0, 0, 1<<62)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if before > 0 && c.Query("after") != "" {
		errs = append(errs, FieldError{"after", "give before or after, not both"})
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	f := store.AuditFilter{Kind: c.Query("kind"), Actor: c.Query("actor"), Subject: c.Query("subject"), Before: int64(before), After: int64(after),
		Ascending: c.Query("after") != "", Limit: limit + 1}
	recs, err := s.deps.AuditLog.ListAudit(c.UserContext(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(recs) > limit {
		recs = recs[:limit]
		next = strconv.FormatInt(recs[limit-1].Seq, 10)
	}
	out := fiber.Map{"records": redactAudit(recs, mustPrincipal(c).Clearance)}
	if f.Ascending {
		out["next_after"] = next
	} else {
		out["next_before"] = next
	}
	return c.JSON(out)
}

// verifyAudit walks the whole chain: 200 with {ok: true, head} or 200 with
// {ok: false, first_bad_seq, problem}. ?anchor=SEQ:HASH also checks a head
// recorded earlier.
func (s *Server) verifyAudit(c *fiber.Ctx) error {
	if s.deps.AuditLog == nil {
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the audit log is not enabled on this server"}
	}
	var anchors []audit.Anchor
	if v := c.Query("anchor"); v != "" {
		a, err := audit.ParseAnchor(v)
		if err != nil {
			return badRequest("invalid query", FieldError{"anchor", "must be SEQ:HASH (a seq and a 64-digit hex hash)"})
		}
		anchors = append(anchors, a)
	}
	rep, err := audit.Verify(c.UserContext(), s.deps.AuditLog, anchors...)
	if err != nil {
		return err
	}
	return c.JSON(rep)
}

func queryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, *FieldError) {
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

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// auditView is an audit record as a key sees it: the payload of a record
// above the key's clearance is withheld (its hash stays, so the chain can
// still be verified with GET /v1/audit/verify).
type auditView struct {
	audit.Record
	Redacted string `json:"redacted,omitempty"`
}

// contentKinds are the audit kinds whose payloads can carry what a turn saw:
// tool arguments, proposal arguments and rationales, decision comments.
var contentKinds = []string{"chat.", "tool.call", "tool.refused", "proposal."}

// redactAudit binds the audit log to clearance like every other read: a
// record's level is the "clearance" its payload names (the acting key's,
// which bounds what the turn could see); a content record that names none
// counts as restricted.
func redactAudit(recs []audit.Record, viewer access.Clearance) []auditView {
	out := make([]auditView, len(recs))
	for i, r := range recs {
		out[i].Record = r
		level := auditClearance(r)
		if viewer.Covers(level) {
			continue
		}
		out[i].Payload = json.RawMessage("null")
		out[i].Redacted = fmt.Sprintf("payload withheld: the record is %s and this key has clearance %s", level, viewer)
	}
	return out
}

func auditClearance(r audit.Record) access.Clearance {
	var p struct {
		Clearance access.Clearance `json:"clearance"`
	}
	if json.Unmarshal(r.Payload, &p) == nil && p.Clearance != "" {
		return p.Clearance
	}
	if slices.ContainsFunc(contentKinds, func(k string) bool { return strings.HasPrefix(r.Kind, k) }) {
		return access.Restricted
	}
	return access.Public
}
