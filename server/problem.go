package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/google/uuid"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/store"
)

// Problem is an RFC 9457 problem details object, and the error type handlers
// return for client mistakes.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func badRequest(detail string, errs ...FieldError) *Problem {
	return &Problem{Status: fiber.StatusBadRequest, Title: "Bad Request", Detail: detail, Errors: errs}
}

func notFound(detail string) *Problem {
	return &Problem{Status: fiber.StatusNotFound, Title: "Not Found", Detail: detail}
}

func forbidden(detail string) *Problem {
	return &Problem{Status: fiber.StatusForbidden, Title: "Forbidden", Detail: detail}
}

// problemFor maps any error to the problem users see: the one place where
// domain errors become HTTP statuses. Unknown errors become a 500 whose
// detail hides the cause (the cause goes to the log).
func (s *Server) problemFor(err error) *Problem {
	var p *Problem
	var fe *fiber.Error
	var ie *agents.InputError
	if hp := hotlineProblem(err); hp != nil {
		return hp
	}
	if tp := toolProblem(err); tp != nil {
		return tp
	}
	if kp := knowledgeProblem(err); kp != nil {
		return kp
	}
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ie):
		return badRequest("the request is invalid", FieldError{ie.Field, ie.Message})
	case errors.Is(err, agents.ErrUnknownAgent):
		return notFound(err.Error()[len("agents: "):])
	case errors.Is(err, agents.ErrUnknownSession):
		return notFound("unknown session")
	case errors.Is(err, agents.ErrForbidden):
		return forbidden(strings.TrimPrefix(err.Error(), "agents: not allowed: "))
	case errors.Is(err, store.ErrNotFound):
		return notFound("not found")
	case errors.As(err, &fe):
		return &Problem{Status: fe.Code, Title: statusTitle(fe.Code), Detail: fe.Message}
	}
	return &Problem{Status: fiber.StatusInternalServerError, Title: "Internal Server Error", Detail: "the server failed; the request id identifies it in the logs"}
}

func statusTitle(code int) string {
	if t := utils.StatusMessage(code); t != "" {
		return t
	}
	return "Error"
}

// unknownField names the first top-level key of body that v's struct does not
// declare, so the client hears which field is wrong.
func unknownField(body []byte, v any) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		known[strings.ToLower(name)] = true
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[strings.ToLower(k)] {
			return k
		}
	}
	return ""
}

func (s *Server) handleError(c *fiber.Ctx, err error) error {
	p := *s.problemFor(err)
	if p.Status >= 500 {
		s.log.Error("request failed", "err", err, "path", c.Path(), "request_id", requestID(c))
	}
	if isOpen311Path(c.Path()) {
		return open311Fail(c, p.Status, p.Detail)
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	p.Instance = c.Path()
	p.RequestID = requestID(c)
	if p.RequestID == "" {
		// Errors raised before the middleware ran (e.g. an oversize body) still get an id.
		p.RequestID = uuid.NewString()
		c.Set(fiber.HeaderXRequestID, p.RequestID)
	}
	if p.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="cityagent"`)
	}
	body, _ := json.Marshal(p)
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Send(body)
}

// decodeJSON decodes the request body strictly into v: JSON only, UTF-8
// only, strings checked (strictinput.go), unknown fields refused, one value,
// and type errors reported by field.
func decodeJSON(c *fiber.Ctx, v any) error { return decodeBody(c, v, true) }

// decodeOpenJSON is decodeJSON for a vocabulary the server does not own
// (the OpenAI chat completion request), whose unknown fields are ignored.
func decodeOpenJSON(c *fiber.Ctx, v any) error { return decodeBody(c, v, false) }

func decodeBody(c *fiber.Ctx, v any, strict bool) error {
	if err := checkJSONMediaType(c); err != nil {
		return err
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the request body is empty; send a JSON object")
	}
	if err := checkJSONStrings(body); err != nil {
		return err
	}
	if strict {
		if f := unknownField(body, v); f != "" {
			return badRequest("unknown field", FieldError{f, "is not a known field"})
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return badRequest("a field has the wrong type", FieldError{te.Field, fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)})
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("malformed JSON at byte %d", se.Offset))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: unexpected end of input")
		}
		return badRequest("malformed JSON: " + err.Error())
	}
	if dec.More() {
		return badRequest("the body must hold exactly one JSON value")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return k
}
