package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/evals"
)

// EvalService runs eval suites in the background (evals.Service).
type EvalService interface {
	Start(ctx context.Context, req evals.RunRequest, by string) (evals.RunStatus, error)
	Get(id string) (evals.RunStatus, error)
}

var _ EvalService = (*evals.Service)(nil)

// evalRoutes registers POST /v1/evals/runs and GET /v1/evals/runs/{id}, for
// developers; without an eval service they answer 503.
func (s *Server) evalRoutes(v1 fiber.Router) {
	g := v1.Group("/evals", s.require(access.RoleDeveloper))
	g.Post("/runs", s.startEvalRun)
	g.Get("/runs/:id", s.getEvalRun)
}

func (s *Server) evalService() (EvalService, error) {
	if s.deps.Evals == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "evals are not enabled on this server"}
	}
	return s.deps.Evals, nil
}

// startEvalRun checks the suites and starts the run: 202 with the run's
// status and a Location to poll. Bad suites, unknown suites, agents, tools
// or metrics are 400s naming the problem; nothing runs.
func (s *Server) startEvalRun(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	var req evals.RunRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	st, err := svc.Start(c.UserContext(), req, mustPrincipal(c).KeyID)
	if err != nil {
		return evalProblem(err)
	}
	c.Set(fiber.HeaderLocation, "/v1/evals/runs/"+st.ID)
	return c.Status(fiber.StatusAccepted).JSON(st)
}

func (s *Server) getEvalRun(c *fiber.Ctx) error {
	svc, err := s.evalService()
	if err != nil {
		return err
	}
	st, err := svc.Get(c.Params("id"))
	if err != nil {
		return evalProblem(err)
	}
	return c.JSON(st)
}

// evalProblem maps the evals package's errors to problems.
func evalProblem(err error) error {
	var se *evals.SuiteError
	var pe *evals.PreflightError
	switch {
	case errors.As(err, &se):
		return badRequest("the suite is invalid", problemFields(se.Problems)...)
	case errors.As(err, &pe):
		return badRequest("the suites name agents, tools, actions or models this server does not have; nothing ran", problemFields(pe.Problems)...)
	case errors.Is(err, evals.ErrUnknownSuite):
		return badRequest("unknown suite", FieldError{"suites", strings.TrimPrefix(err.Error(), "evals: unknown suite: ")})
	case errors.Is(err, evals.ErrInvalidGate):
		return badRequest("invalid threshold", FieldError{"fail_under/fail_over", strings.TrimPrefix(err.Error(), "evals: invalid threshold: ")})
	case errors.Is(err, evals.ErrBadRunRequest):
		return badRequest(strings.TrimPrefix(err.Error(), "evals: bad run request: "))
	case errors.Is(err, evals.ErrUnknownRun):
		return notFound("unknown eval run")
	case errors.Is(err, evals.ErrBusy):
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: strings.TrimPrefix(err.Error(), "evals: ")}
	}
	return err
}

func problemFields(ps []evals.Problem) []FieldError {
	out := make([]FieldError, len(ps))
	for i, p := range ps {
		where := p.File
		if p.Line > 0 {
			where = fmt.Sprintf("%s:%d", p.File, p.Line)
		}
		if p.Field != "" {
			where += " " + p.Field
		}
		out[i] = FieldError{Field: where, Message: p.Message}
	}
	return out
}
