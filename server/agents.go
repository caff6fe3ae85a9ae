package server

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
)

type toolView struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Clearance   string          `json:"clearance"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Available   bool            `json:"available"`
}

type agentView struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Version     string         `json:"version"`
	Model       string         `json:"model"`
	Tools       []toolView     `json:"tools"`
	Collections []string       `json:"collections"`
	Actions     []string       `json:"actions"`
	Roles       []string       `json:"roles"`
	Budgets     agents.Budgets `json:"budgets"`
}

func (s *Server) view(spec agents.Spec, detail bool, cl access.Clearance) agentView {
	v := agentView{Name: spec.Name, Description: spec.Description, Version: spec.Version,
		Model: s.deps.ModelName(spec.Model), Collections: spec.Collections, Actions: spec.Actions, Budgets: spec.Budgets, Tools: []toolView{}}
	if v.Actions == nil {
		v.Actions = []string{}
	}
	for _, r := range spec.Roles {
		v.Roles = append(v.Roles, string(r))
	}
	for _, name := range spec.Tools {
		tv := toolView{Name: name}
		// A tool above the key's clearance shows as a missing one does.
		if t, err := s.deps.Tools.Get(name); err == nil && cl.Covers(t.Spec().Clearance) {
			ts := t.Spec()
			tv.Description, tv.Clearance, tv.Available = ts.Description, string(ts.Clearance), true
			if detail {
				tv.Parameters = ts.Parameters
			}
		}
		v.Tools = append(v.Tools, tv)
	}
	return v
}

func (s *Server) listAgents(c *fiber.Ctx) error {
	out := []agentView{}
	for _, spec := range s.deps.Catalog.List() {
		out = append(out, s.view(spec, false, mustPrincipal(c).Clearance))
	}
	return c.JSON(fiber.Map{"agents": out})
}

func (s *Server) getAgent(c *fiber.Ctx) error {
	spec, err := s.deps.Catalog.Get(c.Params("agent"))
	if err != nil {
		return err
	}
	return c.JSON(s.view(spec, true, mustPrincipal(c).Clearance))
}
