package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

// ToolManager is what the tool routes use to register, remove and list
// developer tools; *devtools.Manager implements it.
type ToolManager interface {
	List(ctx context.Context, withParams bool) []devtools.ToolInfo
	Sources(ctx context.Context) []devtools.SourceInfo
	RegisterHTTP(ctx context.Context, d httptool.Def, actor string) (devtools.ToolInfo, error)
	DeleteTool(ctx context.Context, name string) error
	AddSource(ctx context.Context, req devtools.SourceRequest, actor string) (devtools.SourceInfo, error)
	DeleteSource(ctx context.Context, name string) error
}

var _ ToolManager = (*devtools.Manager)(nil)

func (s *Server) toolRoutes(v1 fiber.Router) {
	dev := s.require(access.RoleDeveloper)
	v1.Get("/tools", s.listTools)
	v1.Post("/tools", dev, s.registerTool)
	v1.Delete("/tools/:name", dev, s.deleteTool)
	v1.Post("/tools/:name/invoke", dev, s.invokeTool)
	v1.Get("/tool-sources", s.listToolSources)
	v1.Post("/tool-sources", dev, s.addToolSource)
	v1.Delete("/tool-sources/:name", dev, s.deleteToolSource)
}

func (s *Server) toolManager() (ToolManager, error) {
	if s.deps.DevTools == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "developer tools are not enabled on this server"}
	}
	return s.deps.DevTools, nil
}

// listTools shows every tool any key may see, with availability;
// ?detail=true adds the parameter schemas.
func (s *Server) listTools(c *fiber.Ctx) error {
	detail := c.Query("detail") == "true"
	if s.deps.DevTools == nil {
		out := []devtools.ToolInfo{}
		for _, t := range s.deps.Tools.List() {
			sp := t.Spec()
			ti := devtools.ToolInfo{Name: sp.Name, Description: sp.Description, Kind: devtools.KindBuiltin, Source: sp.Source,
				Clearance: sp.Clearance, TimeoutMS: sp.Timeout.Milliseconds(), Available: true}
			if detail {
				ti.Parameters = sp.Parameters
			}
			out = append(out, ti)
		}
		return c.JSON(fiber.Map{"tools": out})
	}
	return c.JSON(fiber.Map{"tools": s.deps.DevTools.List(c.UserContext(), detail)})
}

func (s *Server) listToolSources(c *fiber.Ctx) error {
	if s.deps.DevTools == nil {
		return c.JSON(fiber.Map{"sources": []devtools.SourceInfo{}})
	}
	return c.JSON(fiber.Map{"sources": s.deps.DevTools.Sources(c.UserContext())})
}

func (s *Server) audit(c *fiber.Ctx, kind, subject string, payload any) {
	err := s.deps.Audit.Audit(c.UserContext(), audit.Entry{Actor: mustPrincipal(c).KeyID, Kind: kind, Subject: subject, Payload: payload})
	if err != nil {
		s.log.Error("audit of a tool change failed", "kind", kind, "subject", subject, "err", err, "request_id", requestID(c))
	}
}

func (s *Server) registerTool(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	var d httptool.Def
	if err := decodeJSON(c, &d); err != nil {
		return err
	}
	if d.Source != "" || d.In != nil {
		return badRequest("source and in are set by the server", FieldError{"source", "is not a field of a registration"})
	}
	info, err := m.RegisterHTTP(c.UserContext(), d, mustPrincipal(c).KeyID)
	if err != nil {
		return err
	}
	s.audit(c, audit.KindToolRegister, info.Name, info.Definition)
	c.Set(fiber.HeaderLocation, "/v1/tools/"+info.Name)
	return c.Status(fiber.StatusCreated).JSON(info)
}

func (s *Server) deleteTool(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	name := c.Params("name")
	if err := m.DeleteTool(c.UserContext(), name); err != nil {
		return err
	}
	s.audit(c, audit.KindToolRemove, name, nil)
	return c.SendStatus(fiber.StatusNoContent)
}

// invokeRequest is the body of POST /v1/tools/{name}/invoke.
type invokeRequest struct {
	Arguments json.RawMessage `json:"arguments"`
}

// invokeResult is a direct tool call's outcome: a failing tool is reported
// here (ok false), as it is to a model, not as an HTTP error.
type invokeResult struct {
	Name       string          `json:"name"`
	OK         bool            `json:"ok"`
	Content    json.RawMessage `json:"content,omitempty"`
	Citation   *tools.Citation `json:"citation,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS int64           `json:"duration_ms"`
}

func (s *Server) invokeTool(c *fiber.Ctx) error {
	var req invokeRequest
	if body := bytes.TrimSpace(c.Body()); len(body) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if body[0] != '{' { // null decodes into nothing: say so
			return badRequest("the body must be a JSON object", FieldError{"body", `send {"arguments": {…}} or no body`})
		}
	}
	name := c.Params("name")
	p := mustPrincipal(c)
	t, err := s.deps.Tools.Get(name)
	if err != nil {
		return err
	}
	timeout := t.Spec().Timeout
	if timeout <= 0 || timeout > 2*time.Minute {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
	defer cancel()
	start := time.Now()
	res, err := s.deps.Tools.Call(ctx, p.Clearance, name, req.Arguments)
	out := invokeResult{Name: name, DurationMS: time.Since(start).Milliseconds()}
	switch {
	case errors.Is(err, tools.ErrForbidden), errors.Is(err, tools.ErrInvalidArgs):
		return err
	case err != nil && ctx.Err() != nil:
		out.Error = "timed out after " + timeout.String()
	case err != nil:
		out.Error = err.Error()
	default:
		out.OK, out.Content, out.Citation = true, res.Content, &res.Citation
	}
	s.audit(c, audit.KindToolCall, name, map[string]any{"ok": out.OK, "error": out.Error, "direct": true})
	return c.JSON(out)
}

func (s *Server) addToolSource(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	var req devtools.SourceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.DocURL != "" {
		return badRequest("doc_url is set by the server", FieldError{"doc_url", "is not a field of a request"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), time.Minute)
	defer cancel()
	info, err := m.AddSource(ctx, req, mustPrincipal(c).KeyID)
	if err != nil {
		return err
	}
	s.audit(c, audit.KindToolRegister, "source:"+info.Name, map[string]any{"kind": info.Kind, "tools": info.Tools, "url": req.URL, "command": req.Command})
	c.Set(fiber.HeaderLocation, "/v1/tool-sources/"+info.Name)
	return c.Status(fiber.StatusCreated).JSON(info)
}

func (s *Server) deleteToolSource(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	name := c.Params("name")
	if err := m.DeleteSource(c.UserContext(), name); err != nil {
		return err
	}
	s.audit(c, audit.KindToolRemove, "source:"+name, nil)
	return c.SendStatus(fiber.StatusNoContent)
}

// toolProblem maps the tool packages' errors to problems; their messages
// are written to be shown to the developer who made the request.
func toolProblem(err error) *Problem {
	var ve *httptool.ValidationError
	switch {
	case errors.As(err, &ve):
		var fes []FieldError
		for _, p := range ve.Problems {
			fes = append(fes, FieldError{p.Field, p.Message})
		}
		return badRequest("the tool definition is invalid", fes...)
	case errors.Is(err, openapi.ErrDocument):
		return &Problem{Status: fiber.StatusUnprocessableEntity, Title: "Unprocessable Entity", Detail: detailOf(err, "openapi: ")}
	case errors.Is(err, mcptool.ErrCommandNotAllowed):
		return forbidden(detailOf(err, "mcptool: "))
	case errors.Is(err, mcptool.ErrConfig), errors.Is(err, devtools.ErrInvalid) && !errors.Is(err, outbound.ErrForbidden):
		return badRequest(detailOf(err, "devtools: ", "mcptool: "))
	case errors.Is(err, mcptool.ErrUnreachable), errors.Is(err, outbound.ErrForbidden):
		return &Problem{Status: fiber.StatusUnprocessableEntity, Title: "Unprocessable Entity", Detail: detailOf(err, "devtools: ", "mcptool: ")}
	case errors.Is(err, devtools.ErrDuplicate), errors.Is(err, devtools.ErrBuiltin), errors.Is(err, tools.ErrDuplicateTool):
		return &Problem{Status: fiber.StatusConflict, Title: "Conflict", Detail: detailOf(err, "devtools: ", "tools: ")}
	case errors.Is(err, devtools.ErrNotFound), errors.Is(err, tools.ErrUnknownTool):
		return notFound(detailOf(err, "devtools: ", "tools: "))
	case errors.Is(err, tools.ErrForbidden):
		return forbidden(detailOf(err, "tools: "))
	case errors.Is(err, tools.ErrInvalidArgs):
		var ae *tools.ArgsError
		if errors.As(err, &ae) {
			return badRequest("the arguments do not fit the tool's schema", FieldError{"arguments", ae.Reason})
		}
		return badRequest(err.Error())
	}
	return nil
}

func detailOf(err error, prefixes ...string) string {
	d := err.Error()
	for _, p := range prefixes {
		d = strings.ReplaceAll(d, p, "")
	}
	return d
}
