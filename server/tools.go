package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
)

// ToolManager is what the tool routes use to register, remove and list
// developer tools; *devtools.Manager implements it.
type ToolManager interface {
	List(ctx context.Context, withParams bool) []devtools.ToolInfo
	Sources(ctx context.Context) []devtools.SourceInfo
	RegisterHTTP(ctx context.Context, d httptool.Def, actor string) (devtools.ToolInfo, error)
	DeleteTool(ctx context.Context, name string) error
	AddSource(ctx context.Context, req devtools.SourceRequest, actor string) (devtools.SourceInfo, error)
	Source(ctx context.Context, name string) (devtools.SourceInfo, error)
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
	v1.Get("/tool-sources/:name", s.getToolSource)
	v1.Post("/tool-sources", dev, s.addToolSource)
	v1.Delete("/tool-sources/:name", dev, s.deleteToolSource)
}

func (s *Server) toolManager() (ToolManager, error) {
	if s.deps.DevTools == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "developer tools are not enabled on this server"}
	}
	return s.deps.DevTools, nil
}

// listTools shows the tools the key's clearance covers, with availability;
// ?detail=true adds the parameter schemas. A tool above the key's clearance
// is left out entirely, as MCP's tools/list does: to this key it does not
// exist.
func (s *Server) listTools(c *fiber.Ctx) error {
	detail := c.Query("detail") == "true"
	cl := mustPrincipal(c).Clearance
	if s.deps.DevTools == nil {
		out := []devtools.ToolInfo{}
		for _, t := range s.deps.Tools.List() {
			sp := t.Spec()
			if !cl.Covers(sp.Clearance) {
				continue
			}
			ti := devtools.ToolInfo{Name: sp.Name, Description: sp.Description, Kind: devtools.KindBuiltin, Source: sp.Source,
				Clearance: sp.Clearance, TimeoutMS: sp.Timeout.Milliseconds(), Available: true}
			if detail {
				ti.Parameters = sp.Parameters
			}
			out = append(out, ti)
		}
		return c.JSON(fiber.Map{"tools": out})
	}
	out := []devtools.ToolInfo{}
	for _, ti := range s.deps.DevTools.List(c.UserContext(), detail) {
		if cl.Covers(ti.Clearance) {
			out = append(out, ti)
		}
	}
	return c.JSON(fiber.Map{"tools": out})
}

// hiddenTool reports whether the registry holds name above clearance cl.
func (s *Server) hiddenTool(cl access.Clearance, name string) bool {
	t, err := s.deps.Tools.Get(name)
	return err == nil && !cl.Covers(t.Spec().Clearance)
}

func (s *Server) listToolSources(c *fiber.Ctx) error {
	out := []devtools.SourceInfo{}
	if s.deps.DevTools == nil {
		return c.JSON(fiber.Map{"sources": out})
	}
	cl := mustPrincipal(c).Clearance
	for _, info := range s.deps.DevTools.Sources(c.UserContext()) {
		out = append(out, s.sourceFor(cl, info))
	}
	return c.JSON(fiber.Map{"sources": out})
}

// sourceFor is a tool source as a key with clearance cl sees it: without
// the names of its tools above cl.
func (s *Server) sourceFor(cl access.Clearance, info devtools.SourceInfo) devtools.SourceInfo {
	names := []string{}
	for _, n := range info.Tools {
		if !s.hiddenTool(cl, n) {
			names = append(names, n)
		}
	}
	info.Tools = names
	if info.Import != nil {
		rep := *info.Import
		rep.Tools = rep.Tools[:0:0] // a new backing array: the manager's report stays whole
		for _, m := range info.Import.Tools {
			if !s.hiddenTool(cl, m.Tool) {
				rep.Tools = append(rep.Tools, m)
			}
		}
		info.Import = &rep
	}
	return info
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
	out, err := s.invoke(c.UserContext(), mustPrincipal(c), c.Params("name"), req.Arguments, "")
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// invoke calls a tool directly for p (POST /v1/tools/{name}/invoke, and
// the MCP server's tools with via "mcp") and audits the call. A tool above
// p's clearance, an unknown tool and arguments that do not fit are errors;
// a failing tool is an outcome.
func (s *Server) invoke(ctx context.Context, p access.Principal, name string, args json.RawMessage, via string) (invokeResult, error) {
	t, err := s.deps.Tools.Get(name)
	if err != nil {
		return invokeResult{}, err
	}
	if !p.Clearance.Covers(t.Spec().Clearance) {
		// Exactly what a missing tool gets: a hidden tool must not be confirmed.
		return invokeResult{}, usererr.Errorf("%w: %s", tools.ErrUnknownTool, name)
	}
	timeout := t.Spec().Timeout
	if timeout <= 0 || timeout > 2*time.Minute {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := s.deps.Tools.Call(ctx, p.Clearance, name, args)
	out := invokeResult{Name: name, DurationMS: time.Since(start).Milliseconds()}
	switch {
	case errors.Is(err, tools.ErrForbidden), errors.Is(err, tools.ErrInvalidArgs):
		return invokeResult{}, err
	case err != nil && ctx.Err() != nil:
		out.Error = "timed out after " + timeout.String()
	case err != nil:
		out.Error = err.Error()
	default:
		out.OK, out.Content, out.Citation = true, res.Content, &res.Citation
	}
	payload := map[string]any{"ok": out.OK, "error": out.Error, "direct": true}
	if via != "" {
		payload["via"] = via
	}
	if err := s.deps.Audit.Audit(context.WithoutCancel(ctx), audit.Entry{Actor: p.KeyID, Kind: audit.KindToolCall, Subject: name, Payload: payload}); err != nil {
		s.log.Error("audit of a tool call failed", "subject", name, "err", err, "via", via)
	}
	return out, nil
}

// getToolSource shows one source with its import report: which operation
// each tool calls, what was skipped and why, warnings.
func (s *Server) getToolSource(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	info, err := m.Source(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(s.sourceFor(mustPrincipal(c).Clearance, info))
}

// sourceTimeout bounds adding a tool source: fetching and importing a
// large OpenAPI document (GitHub's 13 MB takes seconds) or connecting an
// MCP server.
const sourceTimeout = 3 * time.Minute

func (s *Server) addToolSource(c *fiber.Ctx) error {
	m, err := s.toolManager()
	if err != nil {
		return err
	}
	var req devtools.SourceRequest
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		if req, err = sourceUpload(c); err != nil {
			return err
		}
	} else if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.DocURL != "" {
		return badRequest("doc_url is set by the server", FieldError{"doc_url", "is not a field of a request"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), sourceTimeout)
	defer cancel()
	info, err := m.AddSource(ctx, req, mustPrincipal(c).KeyID)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Problem{Status: fiber.StatusGatewayTimeout, Title: "Gateway Timeout",
				Detail: "adding the source took longer than " + sourceTimeout.String() + "; for a large OpenAPI document, select operations with include"}
		}
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

// sourceUpload reads POST /v1/tool-sources as multipart/form-data: the
// request's JSON in the field "source" and the OpenAPI document as the
// file "document" (for documents too large to inline as a JSON string).
func sourceUpload(c *fiber.Ctx) (devtools.SourceRequest, error) {
	var req devtools.SourceRequest
	form, err := c.MultipartForm()
	if err != nil {
		return req, badRequest("the multipart body does not parse", FieldError{"body", err.Error()})
	}
	fields, files := form.Value["source"], form.File["document"]
	if len(fields) != 1 || len(files) != 1 {
		return req, badRequest("send one field source (the request as JSON) and one file document",
			FieldError{"source", "one JSON object"}, FieldError{"document", "one file"})
	}
	dec := json.NewDecoder(strings.NewReader(fields[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("the source field is not a tool source request", FieldError{"source", err.Error()})
	}
	if len(req.Document) > 0 || req.URL != "" {
		return req, badRequest("the document comes from the uploaded file", FieldError{"source", "leave out document and url"})
	}
	f, err := files[0].Open()
	if err != nil {
		return req, badRequest("the uploaded document cannot be read", FieldError{"document", err.Error()})
	}
	defer f.Close()
	doc, err := io.ReadAll(f)
	if err != nil {
		return req, badRequest("the uploaded document cannot be read", FieldError{"document", err.Error()})
	}
	req.Document, _ = json.Marshal(string(doc))
	return req, nil
}
