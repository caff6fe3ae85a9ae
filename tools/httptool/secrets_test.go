package httptool_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/httptool"
)

const sekret = "sekret-Value+42/x"

var secretEnv = map[string]string{"CITYAGENT_SECRET_KEY": sekret, "CITYAGENT_SECRET_CLIENT": "client-secret-9"}

// closedURL is the URL of a port on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func leaks(s string) bool {
	return strings.Contains(s, sekret) || strings.Contains(s, "sekret-Value%2B42%2Fx") || strings.Contains(s, "client-secret-9")
}

// A query apiKey never shows in the error of an endpoint that cannot be
// reached: that text reaches the model and the audit chain.
func TestQueryKeyNotInTransportError(t *testing.T) {
	tool := newTool(t, httptool.Def{Endpoint: closedURL(t) + "/api/stations",
		Auth: []httptool.Auth{{Type: "apiKey", In: "query", Name: "api_key", Secret: "${CITYAGENT_SECRET_KEY}"}}}, secretEnv)
	_, err := tool.Call(context.Background(), json.RawMessage(`{}`))
	if err == nil {
		t.Fatal("a closed port answered")
	}
	if leaks(err.Error()) || strings.Contains(err.Error(), "api_key=") {
		t.Fatalf("the error shows the key: %v", err)
	}
	if !strings.Contains(err.Error(), "/api/stations") {
		t.Errorf("the error no longer says what failed: %v", err)
	}
}

// An endpoint that echoes the credentials, in a result or an error body,
// never hands them to the model.
func TestEchoedSecretsRedacted(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"uri": r.RequestURI, "key": r.Header.Get("X-Api-Key"),
			"client": r.Header.Get("X-Client"), "auth": r.Header.Get("Authorization")})
	}))
	defer srv.Close()
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/echo", Headers: map[string]string{"X-Client": "${CITYAGENT_SECRET_CLIENT}"},
		Auth: []httptool.Auth{{Type: "apiKey", In: "query", Name: "api_key", Secret: "${CITYAGENT_SECRET_KEY}"},
			{Type: "apiKey", In: "header", Name: "X-Api-Key", Secret: "${CITYAGENT_SECRET_KEY}"}}}, secretEnv)
	for _, status = range []int{200, 500} {
		res, err := tool.Call(context.Background(), json.RawMessage(`{}`))
		text := string(res.Content)
		if err != nil {
			text = err.Error()
		}
		if leaks(text) || !strings.Contains(text, httptool.Redacted) {
			t.Errorf("status %d: %s", status, text)
		}
		if status == 200 && (err != nil || !json.Valid(res.Content)) {
			t.Errorf("status 200: %v, content %s", err, res.Content)
		}
	}
}

// An OAuth access token echoed back is redacted too.
func TestEchoedTokenRedacted(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"tok-0123456789","expires_in":3600}`)
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"auth": r.Header.Get("Authorization")})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/me", Auth: []httptool.Auth{{Type: "oauth2", TokenURL: srv.URL + "/token",
		ClientID: "${CITYAGENT_SECRET_CLIENT}", ClientSecret: "${CITYAGENT_SECRET_KEY}"}}}, secretEnv)
	res, err := tool.Call(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Content), "tok-0123456789") || !strings.Contains(string(res.Content), httptool.Redacted) {
		t.Errorf("content %s", res.Content)
	}
}

// hop is one request a recording server saw.
type hop struct {
	uri    string
	header http.Header
}

// recordingServer records every request; redirect, if set, answers it.
func recordingServer(t *testing.T, redirect func(r *http.Request) string) (*httptest.Server, func() []hop) {
	t.Helper()
	var mu sync.Mutex
	var hops []hop
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hops = append(hops, hop{r.RequestURI, r.Header.Clone()})
		mu.Unlock()
		if redirect != nil {
			if to := redirect(r); to != "" {
				http.Redirect(w, r, to, http.StatusFound)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []hop { mu.Lock(); defer mu.Unlock(); return append([]hop(nil), hops...) }
}

// A redirect to another origin carries no credential: no apiKey header,
// no source header naming a secret, no Authorization, no query key and
// no Referer. A redirect within the origin keeps them, without Referer.
func TestRedirectsDropCredentials(t *testing.T) {
	other, otherHops := recordingServer(t, nil)
	origin, originHops := recordingServer(t, func(r *http.Request) string {
		switch r.URL.Path {
		case "/away":
			return other.URL + "/landing?" + r.URL.RawQuery
		case "/within":
			return "/final?" + r.URL.RawQuery
		}
		return ""
	})
	def := func(path string) httptool.Def {
		return httptool.Def{Endpoint: origin.URL + path, Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`),
			Headers: map[string]string{"X-Client": "${CITYAGENT_SECRET_CLIENT}"},
			Auth: []httptool.Auth{{Type: "apiKey", In: "header", Name: "X-Api-Key", Secret: "${CITYAGENT_SECRET_KEY}"},
				{Type: "apiKey", In: "query", Name: "api_key", Secret: "${CITYAGENT_SECRET_KEY}"},
				{Type: "bearer", Secret: "${CITYAGENT_SECRET_CLIENT}"}}}
	}
	call(t, newTool(t, def("/away"), secretEnv), `{"q":"bus"}`)
	hops := otherHops()
	if len(hops) != 1 {
		t.Fatalf("the other host saw %d requests", len(hops))
	}
	got := hops[0]
	for _, h := range []string{"X-Api-Key", "X-Client", "Authorization", "Referer"} {
		if v := got.header.Get(h); v != "" {
			t.Errorf("the other host got %s: %q", h, v)
		}
	}
	if got.uri != "/landing?q=bus" {
		t.Errorf("the other host got %s, want /landing?q=bus", got.uri)
	}

	call(t, newTool(t, def("/within"), secretEnv), `{"q":"bus"}`)
	last := originHops()[len(originHops())-1]
	if last.header.Get("X-Api-Key") != sekret || last.header.Get("X-Client") != "client-secret-9" ||
		!strings.Contains(last.uri, "api_key=") || last.header.Get("Referer") != "" {
		t.Errorf("same-origin redirect: %s %v", last.uri, last.header)
	}
}

// Path values "." and ".." are sent encoded, never as dot segments that
// climb the endpoint's path; an empty path value is refused.
func TestPathDotSegments(t *testing.T) {
	srv, last := recorder(t, 200)
	params := json.RawMessage(`{"type":"object","properties":{"meterId":{"type":"string"}},"required":["meterId"]}`)
	typed := newTool(t, httptool.Def{Endpoint: srv.URL + "/meters/{meterId}/status", Parameters: params,
		Params: map[string]httptool.Param{"meterId": {In: "path"}}}, nil)
	plain := newTool(t, httptool.Def{Name: "plain_op", Description: "d", Endpoint: srv.URL + "/meters/{meterId}/status", Parameters: params}, nil)
	for _, tool := range []*httptool.Tool{typed, plain} {
		for arg, want := range map[string]string{"..": "/meters/%2E%2E/status", ".": "/meters/%2E/status", "a.b": "/meters/a.b/status"} {
			call(t, tool, `{"meterId":"`+arg+`"}`)
			if got := last().target; got != want {
				t.Errorf("%s: %q sent %s, want %s", tool.Spec().Name, arg, got, want)
			}
		}
		_, err := tool.Call(context.Background(), json.RawMessage(`{"meterId":""}`))
		var ae *tools.ArgsError
		if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "meterId may not be empty") {
			t.Errorf("%s: empty path value: %v", tool.Spec().Name, err)
		}
	}
}

// A secret that the response holds as a JSON number still leaves valid
// JSON for the model.
func TestRedactedResultStaysJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pin":73519246,"ok":true}`)
	}))
	defer srv.Close()
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/x", Headers: map[string]string{"X-Pin": "${CITYAGENT_SECRET_PIN}"}},
		map[string]string{"CITYAGENT_SECRET_PIN": "73519246"})
	res, err := tool.Call(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(res.Content) || strings.Contains(string(res.Content), "73519246") {
		t.Errorf("content %s", res.Content)
	}
}
