package citytool

import (
	"context"
	"encoding/json"
	"errors"
)

// SourceError is a city tool's failure to read its data source. Error is
// the whole internal chain, for logs and traces; Public is a short,
// bilingual message for the model and the user, never the chain (no
// broker URLs, no parser positions).
type SourceError struct {
	// Domain names the data in the message: "traffic", "permit", "energy".
	Domain string
	Err    error
}

// SourceFailed wraps err, a failure of domain's data source; an error
// that already has a public message (a usererr) keeps it.
func SourceFailed(domain string, err error) error {
	var pub interface{ Public() string }
	if err == nil || errors.As(err, &pub) {
		return err
	}
	return &SourceError{Domain: domain, Err: err}
}

// Error implements error.
func (e *SourceError) Error() string { return e.Domain + " source: " + e.Err.Error() }

// Unwrap returns the source's error.
func (e *SourceError) Unwrap() error { return e.Err }

// Public is the short message users may see.
func (e *SourceError) Public() string {
	zh := map[string]string{"traffic": "交通", "permit": "许可", "energy": "能源"}[e.Domain]
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "the " + e.Domain + " data source did not answer in time (" + zh + "数据源响应超时)"
	case errors.As(e.Err, &syn), errors.As(e.Err, &typ):
		return "the " + e.Domain + " data source sent data that could not be read (" + zh + "数据源返回的数据无法解析)"
	}
	return "the " + e.Domain + " data source is unavailable right now (" + zh + "数据源暂时无法访问)"
}
