package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// Fiber answers a request whose method it does not know (PROPFIND, M123)
// itself, before any middleware and without calling the error handler:
// 400 text/plain "Invalid http method", neither traced nor counted nor
// logged. guardMethods, in front of Fiber's handler, answers those itself:
// 405 problem+json with an Allow header naming the methods the path has
// routes for (404 problem+json when it has none), traced, counted and
// logged as method "_OTHER".

// knownMethods are the methods Fiber routes (fiber.DefaultMethods).
var knownMethods = func() map[string]bool {
	m := map[string]bool{}
	for _, v := range fiber.DefaultMethods {
		m[v] = true
	}
	return m
}()

// guardMethods wraps next, the app's fasthttp handler; call it once every
// route is registered.
func (s *Server) guardMethods(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	routes := s.app.GetRoutes(true)
	cfg := s.app.Config()
	return func(rc *fasthttp.RequestCtx) {
		if knownMethods[string(rc.Method())] {
			next(rc)
			return
		}
		s.refuseMethod(rc, routes, cfg)
	}
}

// refuseMethod answers a request with a method Fiber does not know.
func (s *Server) refuseMethod(rc *fasthttp.RequestCtx, routes []fiber.Route, cfg fiber.Config) {
	start := time.Now()
	method, path := string(rc.Method()), string(rc.Path())
	ctx, span := s.deps.Telemetry.StartServer(context.Background(), string(rc.Request.Header.Peek("traceparent")),
		string(rc.Request.Header.Peek("tracestate")), "HTTP") // the conventions' name for an unknown method
	defer span.End()
	id := string(rc.Request.Header.Peek(fiber.HeaderXRequestID))
	if id == "" || len(id) > 128 || nameProblem(id) != "" {
		id = telemetry.TraceID(ctx)
	}
	allow, route := allowedMethods(path, routes, cfg)
	p := Problem{Type: "about:blank", Status: fiber.StatusMethodNotAllowed, Title: "Method Not Allowed", Instance: path, RequestID: id,
		Detail: fmt.Sprintf("the method %s is not one this server implements; %s allows %s", quoteMethod(method), path, strings.Join(allow, ", "))}
	if len(allow) == 0 {
		p.Status, p.Title, p.Detail = fiber.StatusNotFound, "Not Found", fmt.Sprintf("no route %s %s", quoteMethod(method), path)
		route = "/" // the catch-all's pattern, as for any 404
	} else {
		rc.Response.Header.Set(fiber.HeaderAllow, strings.Join(allow, ", "))
	}
	body, _ := json.Marshal(p)
	rc.Response.Header.Set(fiber.HeaderXRequestID, id)
	rc.SetStatusCode(p.Status)
	rc.SetContentType("application/problem+json")
	rc.SetBody(body)
	s.metrics.observe("_OTHER", route, p.Status, time.Since(start))
	if span.Recording() {
		span.Str(telemetry.AttrHTTPMethod, "_OTHER")
		span.Str("http.request.method_original", quoteMethod(method))
		span.Str(telemetry.AttrURLPath, path)
		span.Int(telemetry.AttrHTTPStatus, p.Status)
	}
	s.log.Info("request", "method", quoteMethod(method), "path", path, "status", p.Status,
		"duration_ms", time.Since(start).Milliseconds(), "request_id", id)
}

// allowedMethods are the methods of the routes (not middleware) whose
// pattern matches path, in fiber.DefaultMethods' order, and the first
// such pattern (the route label).
func allowedMethods(path string, routes []fiber.Route, cfg fiber.Config) (out []string, pattern string) {
	for _, r := range routes {
		if !slices.Contains(out, r.Method) && fiber.RoutePatternMatch(path, r.Path, cfg) {
			out = append(out, r.Method)
			if pattern == "" {
				pattern = r.Path
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(fiber.DefaultMethods, a) - slices.Index(fiber.DefaultMethods, b)
	})
	return out, pattern
}

// quoteMethod is a client's method fit for a message or a log line: quoted
// and at most 32 bytes.
func quoteMethod(m string) string {
	if len(m) > 32 {
		m = m[:32]
	}
	return strconv.Quote(m)
}
