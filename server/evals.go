package server

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/evals"
)

// EvalService runs eval suites in the background (evals.Service).
// A run acts as its caller: never above the caller's role or clearance, and
// its report is shown only to keys cleared for what it ran with.
type EvalService interface {
	Start(ctx context.Context, req evals.RunRequest, caller access.Principal) (evals.RunStatus, error)
	Get(id string, viewer access.Principal) (evals.RunStatus, error)
	List(viewer access.Principal) []evals.RunStatus
	Turn(ctx context.Context, req evals.TurnRequest, caller access.Principal) (evals.TurnResult, error)
}

var _ EvalService = (*evals.Service)(nil)

// evalRoutes registers POST and GET /v1/evals/runs, GET /v1/evals/runs/{id} and
// POST /v1/evals/turns (one turn of a remote eval), for developers; without
// an eval service they answer 503.
func (s *Server) evalRoutes(v1 fiber.Router) {
	g := v1.Group("/evals", s.require(access.RoleDeveloper))
	g.Post("/runs", s.startEvalRun)
	g.Get("/runs", s.listEvalRuns)
	g.Get("/runs/:id", s.getEvalRun)
	g.Post("/turns", s.evalTurn)
}

func (s *Server) evalService() (EvalService, error) {
	if s.deps.Evals == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "evals are not enabled on this server"}
	}
	return s.deps.Evals, nil
}

// startEvalRun checks the suites and starts the run: 202 with the run's
// status and a Location to poll. Bad suites, unknown suites, agents, tools
// or metrics are 400s naming the problem; a case asking for a role or
// clearance above the key's is a 403 naming the case and the field. In
// every case nothing runs.
func (s *Server) startEvalRun(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	var req evals.RunRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	st, err := svc.Start(c.UserContext(), req, mustPrincipal(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/v1/evals/runs/"+st.ID)
	return c.Status(fiber.StatusAccepted).JSON(st)
}

// listEvalRuns lists the runs the key may read, newest first, each with its
// summary metrics and without its cases.
func (s *Server) listEvalRuns(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"runs": svc.List(mustPrincipal(c))})
}

func (s *Server) getEvalRun(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	st, err := svc.Get(c.Params("id"), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// evalTurn runs one turn of a remote eval (`cityagent eval --remote`) as the
// caller, never above it; its proposals are reported, never queued.
func (s *Server) evalTurn(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	var req evals.TurnRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	res, err := svc.Turn(c.UserContext(), req, mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(res)
}
