package outbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/tools/outbound"
)

// A redirect to another origin (here another port of 127.0.0.1) drops
// Authorization, Cookie and the headers and query parameters the request
// marked as credentials; no hop gets a Referer.
func TestRedirectDropsMarkedCredentials(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
	}))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/to?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	}))
	defer origin.Close()
	c, err := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := outbound.WithCredentials(context.Background(), outbound.Credentials{Headers: []string{"X-Api-Key"}, Query: []string{"key"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, origin.URL+"/from?key=s%20ecret&q=1", nil)
	req.Header.Set("X-Api-Key", "secret")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Cookie", "sid=secret")
	req.Header.Set("X-Trace", "kept")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("the redirect was not followed")
	}
	for _, h := range []string{"X-Api-Key", "Authorization", "Cookie", "Referer"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("%s reached the other origin: %q", h, v)
		}
	}
	if got.Header.Get("X-Trace") != "kept" || got.URL.RawQuery != "q=1" {
		t.Errorf("other origin got %s with %v", got.URL.RequestURI(), got.Header)
	}
}
