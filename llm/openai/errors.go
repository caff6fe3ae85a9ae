package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/cityagent/cityagent/llm"
)

// UnavailableError reports that the server could not be reached or kept
// failing. It wraps llm.ErrUnavailable and the last underlying error.
type UnavailableError struct {
	Model      string
	StatusCode int    // last HTTP status; 0 if no response came (connection error, timeout)
	Message    string // short description of the last failure, safe to show
	Attempts   int
	Err        error // last underlying error, for logs
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "openai: %s unavailable after %d attempt", e.Model, e.Attempts)
	if e.Attempts != 1 {
		b.WriteString("s")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap lets errors.Is find llm.ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{llm.ErrUnavailable, e.Err} }

// failure is what the retry loop needs to know about a failed attempt.
type failure struct {
	retry         bool
	status        int
	message       string
	retryAfter    time.Duration
	hasRetryAfter bool
}

// maxMessage bounds server-provided text in UnavailableError.Message.
const maxMessage = 200

// classify decides whether err is worth retrying and describes it safely.
// The caller has already ruled out its own ctx ending, stream-func errors
// and malformed answers.
func classify(err error, timeout time.Duration) failure {
	var apiErr *oai.Error
	var streamErr *ssestream.StreamError
	switch {
	case errors.As(err, &apiErr):
		f := failure{status: apiErr.StatusCode, message: truncate(apiErr.Message)}
		if f.message == "" {
			f.message = http.StatusText(apiErr.StatusCode)
		}
		switch s := apiErr.StatusCode; {
		case s == http.StatusRequestTimeout, s == http.StatusConflict, s == http.StatusTooManyRequests, s >= 500:
			f.retry = true
		}
		if apiErr.Response != nil {
			f.retryAfter, f.hasRetryAfter = retryAfter(apiErr.Response.Header, time.Now())
		}
		return f
	case errors.As(err, &streamErr):
		return failure{retry: true, message: "server reported an error mid-stream"}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{retry: true, message: "no complete answer within " + timeout.String()}
	case errors.Is(err, errStreamEnded):
		return failure{retry: true, message: err.Error()}
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return failure{retry: true, message: "unreadable answer from server"}
	}
	return failure{retry: true, message: "connection failed"}
}

func truncate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// retryAfter reads how long the server asked us to wait: Retry-After-Ms
// (OpenAI's, in milliseconds) first, then Retry-After in seconds or as an
// HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// backoff is the wait before retry number n (1-based): base doubled per
// retry, capped at most, with "equal jitter" (half fixed, half random) so
// that clients that failed together do not retry together.
func backoff(n int, base, most time.Duration, jitter func(int64) int64) time.Duration {
	d := base
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(jitter(int64(d-half)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// parameters turns a tool's JSON Schema into openai-go's map form.
func parameters(t llm.ToolSpec) (oai.FunctionParameters, error) {
	if len(t.Parameters) == 0 {
		return oai.FunctionParameters{"type": "object", "properties": map[string]any{}}, nil
	}
	var p oai.FunctionParameters
	if err := json.Unmarshal(t.Parameters, &p); err != nil || p == nil {
		return nil, fmt.Errorf("openai: tool %s: parameters are not a JSON object", t.Name)
	}
	return p, nil
}
