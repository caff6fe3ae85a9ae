package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
)

// OpenAI's clients read errors from {"error": {message, type, param, code}}
// and show nothing useful for any other body, so the OpenAI-compatible
// routes answer in that envelope; every other route keeps problem+json.

// oaiError is the error object of OpenAI's envelope.
type oaiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// isOpenAIPath reports whether path is served in OpenAI's shapes.
func isOpenAIPath(path string) bool {
	return path == "/v1/chat/completions" || path == "/v1/models" || strings.HasPrefix(path, "/v1/models/")
}

// openAIErrorFor translates a problem into OpenAI's error object: the
// status picks the type and code as OpenAI names them, the first invalid
// field becomes param, and the message says what is wrong with it.
func openAIErrorFor(p *Problem) oaiError {
	e := oaiError{Message: p.Detail}
	if e.Message == "" {
		e.Message = p.Title
	}
	if len(p.Errors) > 0 {
		f := p.Errors[0]
		e.Param = &f.Field
		e.Message = f.Field + " " + f.Message
		if p.Detail != "" && p.Detail != "the request is invalid" {
			e.Message = p.Detail + ": " + e.Message
		}
	}
	typ, code := "invalid_request_error", ""
	switch s := p.Status; {
	case s == fiber.StatusUnauthorized:
		typ, code = "authentication_error", "invalid_api_key"
	case s == fiber.StatusForbidden:
		typ, code = "permission_error", "permission_denied"
	case s == fiber.StatusNotFound:
		code = "not_found"
	case s == fiber.StatusRequestEntityTooLarge:
		code = "request_too_large"
	case s == fiber.StatusUnsupportedMediaType:
		code = "unsupported_media_type"
	case s == fiber.StatusTooManyRequests:
		typ, code = "rate_limit_error", "rate_limit_exceeded"
	case s == fiber.StatusServiceUnavailable:
		typ, code = "server_error", "service_unavailable"
	case s >= 500:
		typ, code = "server_error", "internal_error"
	}
	e.Type = typ
	if code != "" {
		e.Code = &code
	}
	return e
}

// errModelNotFound is the error for a model id that names no agent the
// key may use; OpenAI answers 404 model_not_found for both.
var errModelNotFound = errors.New("model not found")

func modelNotFound(id string) error {
	return fmt.Errorf("%w: %w", errModelNotFound,
		notFound(fmt.Sprintf("model %q does not exist or this key may not use it (see GET /v1/models)", id)))
}

// openAIFail writes err, whose problem is p, in OpenAI's envelope with p's
// status.
func (s *Server) openAIFail(c *fiber.Ctx, err error, p *Problem) error {
	e := openAIErrorFor(p)
	if errors.Is(err, errModelNotFound) || errors.Is(err, agents.ErrUnknownAgent) {
		code := "model_not_found"
		e.Code = &code
	}
	if p.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="cityagent"`)
	}
	if id := requestID(c); id != "" {
		c.Set(fiber.HeaderXRequestID, id)
	}
	body, _ := json.Marshal(map[string]oaiError{"error": e})
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}
