// Package httpget fetches a document over HTTP for the city data adapters:
// one GET with headers, a body size limit, and errors that keep the status
// and a short excerpt of the body.
package httpget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// DefaultMaxBytes bounds a response body when the caller gives no limit.
const DefaultMaxBytes = 64 << 20

// ErrTooLarge is returned when a body exceeds its limit.
var ErrTooLarge = errors.New("httpget: response too large")

// StatusError is a response with a status of 400 or above.
type StatusError struct {
	URL    string
	Status int
	Body   string // the start of the body, for the log
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: status %d: %s", e.URL, e.Status, e.Body)
}

// NewClient returns an HTTP client for configured (trusted) data sources:
// a timeout per request and the standard transport.
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout}
}

// Get fetches url with headers, reading at most maxBytes of body (0 =
// DefaultMaxBytes). Statuses of 400 and above become a *StatusError.
func Get(ctx context.Context, c *http.Client, url string, headers http.Header, maxBytes int64) ([]byte, http.Header, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	telemetry.Inject(ctx, req.Header) // W3C traceparent of the calling turn
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", redact(url), err)
	}
	if int64(len(body)) > maxBytes {
		return nil, nil, fmt.Errorf("GET %s: %w (over %d bytes)", redact(url), ErrTooLarge, maxBytes)
	}
	if resp.StatusCode >= 400 {
		excerpt := strings.TrimSpace(string(body))
		if len(excerpt) > 300 {
			excerpt = excerpt[:300] + "…"
		}
		return nil, nil, &StatusError{URL: redact(url), Status: resp.StatusCode, Body: excerpt}
	}
	return body, resp.Header, nil
}

// redact drops a URL's query, which may carry tokens, for error messages.
func redact(url string) string {
	if i := strings.IndexByte(url, '?'); i >= 0 {
		return url[:i] + "?…"
	}
	return url
}
