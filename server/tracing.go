package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// traceRequests starts each request's server span (internal/telemetry),
// a child of the caller's when the request carries a W3C traceparent, and
// puts it in the request's context, so the turn, model, tool and store
// spans below hang from it and outbound calls carry its traceparent. With
// tracing off the context still gets a trace id (the caller's or a random
// one): it is the turn's trace_id and, unless the client sent its own,
// the request id, so logs, audit and the answer name the same trace.
//
// It runs after requestContext (it derives from that context) and before
// requestid (which takes the id it sets).
func (s *Server) traceRequests(c *fiber.Ctx) error {
	switch c.Path() {
	case "/healthz", "/readyz", "/metrics": // probes and scrapes would bury the traces worth reading
		return c.Next()
	}
	ctx, span := s.deps.Telemetry.StartServer(c.UserContext(), c.Get("traceparent"), c.Get("tracestate"), c.Method())
	c.SetUserContext(ctx)
	if len(c.Request().Header.Peek(fiber.HeaderXRequestID)) == 0 {
		c.Request().Header.Set(fiber.HeaderXRequestID, telemetry.TraceID(ctx))
	}
	err := c.Next()
	if !span.Recording() {
		return err
	}
	route := c.Route().Path
	status := c.Response().StatusCode()
	span.Rename(c.Method() + " " + route)
	span.Str(telemetry.AttrHTTPMethod, c.Method())
	span.Str(telemetry.AttrHTTPRoute, route)
	span.Str(telemetry.AttrURLPath, c.Path())
	span.Int(telemetry.AttrHTTPStatus, status)
	if status >= 500 {
		span.FailStatus(strconv.Itoa(status))
	}
	if rc, ok := c.Locals(requestCancelKey).(*requestCancel); ok && rc.taken {
		// A stream runs after the handler: its span ends with the stream.
		context.AfterFunc(ctx, span.End)
		return err
	}
	span.End()
	return err
}

// traceID is the trace id of the request c (traceRequests put it in its
// context).
func traceID(c *fiber.Ctx) string { return telemetry.TraceID(c.UserContext()) }

// traceIDOf is the trace id of ctx's span, or a new one.
func traceIDOf(ctx context.Context) string { return telemetry.TraceID(ctx) }

// traceExtra is where the span of an /mcp request travels, as traceparent
// and tracestate, in the go-sdk's TokenInfo (mcp.go) to the MCP method
// handlers, which run on the session's context, not the request's.
const traceExtra = "cityagent.trace"

// mcpTrace is the trace context of an /mcp request's span.
type mcpTrace struct{ parent, state string }

// traceHeaders is the trace context of r's span (startMCPRequest).
func traceHeaders(r *http.Request) mcpTrace {
	parent, state := telemetry.Headers(r.Context())
	return mcpTrace{parent, state}
}

// startMCPRequest starts the server span of an /mcp request, which runs on
// net/http outside traceRequests: a child of the caller's span when the
// request carries a W3C traceparent. Off, r's context still gets a trace id.
func (s *Server) startMCPRequest(r *http.Request) (*http.Request, telemetry.Span) {
	ctx, span := s.deps.Telemetry.StartServer(r.Context(), r.Header.Get("traceparent"), r.Header.Get("tracestate"), httpMethodLabel(r.Method)+" "+mcpPath)
	return r.WithContext(ctx), span
}

// endMCPRequest counts an /mcp request (route "/mcp") and ends its span.
func (s *Server) endMCPRequest(r *http.Request, span telemetry.Span, status int, took time.Duration) {
	method := httpMethodLabel(r.Method)
	s.metrics.observe(method, mcpPath, status, took)
	if span.Recording() {
		span.Str(telemetry.AttrHTTPMethod, method)
		span.Str(telemetry.AttrHTTPRoute, mcpPath)
		span.Str(telemetry.AttrURLPath, r.URL.Path)
		span.Int(telemetry.AttrHTTPStatus, status)
		if status >= 500 {
			span.FailStatus(strconv.Itoa(status))
		}
	}
	span.End()
}

// httpMethodLabel is method if it is one of HTTP's, else "_OTHER" (the
// semantic conventions' value), so that labels and span names stay bounded.
func httpMethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// traceMethods is the MCP server's outermost receiving middleware: every
// MCP request (tools/call, tools/list, resources/read, …) is a span under
// the span of the HTTP request it came on, named "tools/call <tool>" for a
// tool call, else the method. A JSON-RPC error fails the span with its code
// as error.type, a tool result with isError with "tool_error" (the MCP
// semantic conventions). Notifications are not traced.
func (m *mcpService) traceMethods(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if strings.HasPrefix(method, "notifications/") {
			return next(ctx, method, req)
		}
		var h mcpTrace
		if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
			h, _ = extra.TokenInfo.Extra[traceExtra].(mcpTrace)
		}
		name, tool := method, ""
		if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && method == "tools/call" && p != nil {
			tool = p.Name
			name = method + " " + tool
		}
		ctx, span := m.s.deps.Telemetry.Continue(ctx, h.parent, h.state, name)
		defer span.End()
		res, err := next(ctx, method, req)
		if !span.Recording() {
			return res, err
		}
		span.Str("mcp.method.name", method)
		if tool != "" {
			span.Str(telemetry.AttrOperation, telemetry.OpExecuteTool)
			span.Str(telemetry.AttrToolName, tool)
		}
		var rpcErr *jsonrpc.Error
		switch cr, _ := res.(*mcp.CallToolResult); {
		case errors.As(err, &rpcErr):
			span.Fail(err, strconv.FormatInt(rpcErr.Code, 10))
		case err != nil:
			span.Fail(err, telemetry.ErrorType(err))
		case cr != nil && cr.IsError:
			span.Fail(errors.New(toolErrorText(cr)), "tool_error")
		}
		return res, err
	}
}

// toolErrorText is the text of a failed tool result (Fail bounds and masks
// it).
func toolErrorText(cr *mcp.CallToolResult) string {
	for _, c := range cr.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "the tool call failed"
}
