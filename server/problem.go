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

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/extract"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
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
	// AllowedNext lists a ticket's possible next statuses on a 409 for an
	// illegal lifecycle transition (server/hotline_lifecycle.go).
	AllowedNext []string `json:"allowed_next,omitempty"`
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
// domain errors become HTTP statuses. What users read is the error's public
// message (internal/usererr), never its Error text; unknown errors become
// a 500 whose detail hides the cause (the cause goes to the log).
func (s *Server) problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if fp := fieldProblem(err); fp != nil {
		return fp
	}
	for _, st := range statuses {
		if errors.Is(err, st.err) {
			return st.problem(err)
		}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			return &Problem{Status: fe.Code, Title: statusTitle(fe.Code), Detail: fmt.Sprintf(
				"the request body is over the limit of %d bytes set by server.body_limit (config file)", s.opts.BodyLimit)}
		}
		return &Problem{Status: fe.Code, Title: statusTitle(fe.Code), Detail: fe.Message}
	}
	return &Problem{Status: fiber.StatusInternalServerError, Title: "Internal Server Error", Detail: "the server failed; the request id identifies it in the logs"}
}

// status is the problem for errors wrapping err. Its detail is the fixed
// detail, or else the error's public message (with hint after it); with
// field set, the public message names what is wrong with that field.
type status struct {
	err          error
	code         int
	detail, hint string
	field        string
}

// statuses are checked in order; the first sentinel the error wraps wins
// (a fetch refused by the outbound guard is a 422 although it is also an
// invalid source request).
var statuses = []status{
	{err: hotline.ErrIdempotencyMismatch, code: fiber.StatusUnprocessableEntity, detail: "this Idempotency-Key was used with a different request; use a new key for a new request"},
	{err: hotline.ErrIdempotencyInFlight, code: fiber.StatusConflict, detail: "a request with this Idempotency-Key is still in progress; retry shortly with the same key"},
	{err: hotline.ErrClosed, code: fiber.StatusConflict, detail: "the ticket is closed already"},
	{err: hotline.ErrUnavailable, code: fiber.StatusServiceUnavailable, detail: "the ticket could not be stored; retry with the same Idempotency-Key"},
	{err: hotline.ErrInvalid, code: fiber.StatusBadRequest},
	{err: hotline.ErrNotFound, code: fiber.StatusNotFound},

	{err: openapi.ErrDocument, code: fiber.StatusUnprocessableEntity},
	{err: mcptool.ErrCommandNotAllowed, code: fiber.StatusForbidden},
	{err: mcptool.ErrConfig, code: fiber.StatusBadRequest},
	{err: outbound.ErrForbidden, code: fiber.StatusUnprocessableEntity},
	{err: devtools.ErrInvalid, code: fiber.StatusBadRequest},
	{err: mcptool.ErrUnreachable, code: fiber.StatusUnprocessableEntity},
	{err: devtools.ErrDuplicate, code: fiber.StatusConflict},
	{err: devtools.ErrBuiltin, code: fiber.StatusConflict},
	{err: tools.ErrDuplicateTool, code: fiber.StatusConflict},
	{err: devtools.ErrNotFound, code: fiber.StatusNotFound},
	{err: tools.ErrUnknownTool, code: fiber.StatusNotFound},
	{err: tools.ErrForbidden, code: fiber.StatusForbidden},
	{err: tools.ErrInvalidArgs, code: fiber.StatusBadRequest},

	{err: knowledge.ErrUnavailable, code: fiber.StatusServiceUnavailable, detail: "the knowledge store cannot be reached; try again later"},
	{err: knowledge.ErrUnknownCollection, code: fiber.StatusNotFound, detail: "unknown collection"},
	{err: knowledge.ErrNotFound, code: fiber.StatusNotFound, detail: "no such document"},
	{err: extract.ErrUnsupported, code: fiber.StatusUnsupportedMediaType, hint: " (send text, Markdown, HTML, PDF or CSV)"},
	{err: extract.ErrTooLarge, code: fiber.StatusRequestEntityTooLarge},
	{err: extract.ErrCorrupt, code: fiber.StatusUnprocessableEntity},
	{err: knowledge.ErrEmptyDocument, code: fiber.StatusUnprocessableEntity, detail: "the document has no text"},
	{err: knowledge.ErrInvalid, code: fiber.StatusBadRequest, detail: "the request is invalid for this knowledge store"},

	{err: agents.ErrUnknownAgent, code: fiber.StatusNotFound},
	{err: agents.ErrUnknownSession, code: fiber.StatusNotFound, detail: "unknown session"},
	{err: agents.ErrForbidden, code: fiber.StatusForbidden},

	{err: evals.ErrRunAboveClearance, code: fiber.StatusForbidden},
	{err: evals.ErrUnknownSuite, code: fiber.StatusBadRequest, detail: "unknown suite", field: "suites"},
	{err: evals.ErrInvalidGate, code: fiber.StatusBadRequest, detail: "invalid threshold", field: "fail_under/fail_over"},
	{err: evals.ErrBadRunRequest, code: fiber.StatusBadRequest},
	{err: evals.ErrUnknownRun, code: fiber.StatusNotFound, detail: "unknown eval run"},
	{err: evals.ErrBusy, code: fiber.StatusServiceUnavailable},

	{err: actions.ErrNotFound, code: fiber.StatusNotFound},
	{err: actions.ErrForbidden, code: fiber.StatusForbidden},
	{err: actions.ErrSelfDecision, code: fiber.StatusForbidden},
	{err: actions.ErrExpired, code: fiber.StatusGone},
	{err: actions.ErrDecided, code: fiber.StatusConflict},
	{err: actions.ErrUnknownAction, code: fiber.StatusConflict},
	{err: actions.ErrUnavailable, code: fiber.StatusConflict},

	{err: store.ErrNotFound, code: fiber.StatusNotFound, detail: "not found"},
}

func (st status) problem(err error) *Problem {
	p := &Problem{Status: st.code, Title: statusTitle(st.code), Detail: st.detail}
	public, ok := usererr.Message(err)
	if !ok {
		// Nothing says what may be shown: the status says it all.
		public = strings.ToLower(p.Title)
	}
	switch {
	case st.field != "":
		p.Errors = []FieldError{{st.field, public}}
	case p.Detail == "":
		p.Detail = public + st.hint
	}
	return p
}

// fieldProblem is the problem for the errors that name what is wrong with
// which field (nil for other errors).
func fieldProblem(err error) *Problem {
	var (
		aie *agents.InputError
		hie *hotline.InputError
		kfe *knowledge.FieldError
		tve *httptool.ValidationError
		tae *tools.ArgsError
		aae *actions.ArgsError
		epe *evals.PrivilegeError
		ese *evals.SuiteError
		efe *evals.PreflightError
	)
	switch {
	case errors.As(err, &aie):
		return badRequest("the request is invalid", FieldError{aie.Field, aie.Message})
	case errors.As(err, &hie):
		return badRequest("the request is invalid", FieldError{hie.Field, hie.Message})
	case errors.As(err, &kfe):
		p := badRequest("the document is invalid", FieldError{kfe.Field, kfe.Message})
		if errors.Is(err, knowledge.ErrEmptyDocument) {
			p.Status, p.Title, p.Detail = fiber.StatusUnprocessableEntity, "Unprocessable Entity", "the document has no text"
		}
		return p
	case errors.As(err, &tve):
		var fes []FieldError
		for _, p := range tve.Problems {
			fes = append(fes, FieldError{p.Field, p.Message})
		}
		return badRequest("the tool definition is invalid", fes...)
	case errors.As(err, &tae):
		return badRequest("the arguments do not fit the tool's schema", FieldError{"arguments", tae.Reason})
	case errors.As(err, &aae):
		return badRequest("the arguments are invalid", FieldError{"arguments", aae.Reason})
	case errors.As(err, &epe):
		p := forbidden(fmt.Sprintf("an eval run acts as its caller, never above it: the key has role %s and clearance %s, and the suite asks for more; nothing ran",
			epe.Caller.Role, epe.Caller.Clearance))
		p.Errors = problemFields(epe.Problems)
		return p
	case errors.As(err, &ese):
		return badRequest("the suite is invalid", problemFields(ese.Problems)...)
	case errors.As(err, &efe):
		return badRequest("the suites name agents, tools, actions or models this server does not have; nothing ran", problemFields(efe.Problems)...)
	}
	return nil
}

// problemFields lists an eval problem per field error.
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
	if isOpenAIPath(c.Path()) {
		return s.openAIFail(c, err, &p)
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
