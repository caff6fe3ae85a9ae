package evals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
)

// Remote runs turns on a cityagent server over its HTTP API
// (POST /v1/agents/{agent}/chat). With an admin key it creates a
// short-lived key per role and clearance the cases need (revoked by Close);
// with any other key every case runs as that key, and cases that need
// another caller are not applicable.
type Remote struct {
	base   string
	key    string
	client *http.Client

	mu     sync.Mutex
	admin  bool
	keys   map[[2]string]string // role, clearance → secret
	minted []string             // key ids to revoke
}

var _ Target = (*Remote)(nil)

// NewRemote returns a target for the server at baseURL (e.g.
// http://127.0.0.1:8080) authenticating with key. client may be nil.
func NewRemote(baseURL, key string, client *http.Client) (*Remote, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("evals: remote URL %q must be http(s)://host[:port]", baseURL)
	}
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("evals: a remote run needs an API key (--key or CITYAGENT_EVAL_KEY)")
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Remote{base: strings.TrimRight(u.String(), "/"), key: strings.TrimSpace(key), client: client, keys: map[[2]string]string{}}, nil
}

// RemoteError is a non-2xx answer of the server, with its problem detail.
type RemoteError struct {
	Status int
	Detail string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("evals: remote answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

func (r *Remote) do(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(data, &p)
		detail := p.Detail
		if detail == "" {
			detail = oneLine(string(data), 200)
		}
		return &RemoteError{Status: resp.StatusCode, Detail: detail}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("evals: remote %s %s: decode: %w", method, path, err)
	}
	return nil
}

type remoteAgent struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Model   string   `json:"model"`
	Actions []string `json:"actions"`
	Tools   []struct {
		Name      string `json:"name"`
		Available bool   `json:"available"`
	} `json:"tools"`
}

// Inventory reads GET /v1/agents (and GET /v1/tools where the server has
// it) and whether the key is an admin's.
func (r *Remote) Inventory(ctx context.Context) (Inventory, error) {
	var list struct {
		Agents []remoteAgent `json:"agents"`
	}
	if err := r.do(ctx, http.MethodGet, "/v1/agents", r.key, nil, &list); err != nil {
		return Inventory{}, err
	}
	inv := Inventory{Target: r.base, Agents: map[string]AgentInfo{}, Tools: map[string]bool{}}
	for _, a := range list.Agents {
		info := AgentInfo{Name: a.Name, Version: a.Version, Model: a.Model, Actions: a.Actions, Tools: []string{}}
		for _, t := range a.Tools {
			info.Tools = append(info.Tools, t.Name)
			if t.Available {
				inv.Tools[t.Name] = true
			}
		}
		inv.Agents[a.Name] = info
		if inv.DefaultModel == "" {
			inv.DefaultModel = a.Model
		}
	}
	// Servers with a tool registry API list every registered tool.
	var raw json.RawMessage
	if err := r.do(ctx, http.MethodGet, "/v1/tools", r.key, nil, &raw); err == nil {
		var wrapped struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		}
		var bare []struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &wrapped) == nil {
			for _, t := range wrapped.Tools {
				inv.Tools[t.Name] = true
			}
		} else if json.Unmarshal(raw, &bare) == nil {
			for _, t := range bare {
				inv.Tools[t.Name] = true
			}
		}
	}
	err := r.do(ctx, http.MethodGet, "/v1/keys", r.key, nil, nil)
	var re *RemoteError
	switch {
	case err == nil:
		r.mu.Lock()
		r.admin = true
		r.mu.Unlock()
	case errors.As(err, &re) && re.Status == http.StatusForbidden:
		inv.FixedPrincipal = true
	default:
		return Inventory{}, err
	}
	return inv, nil
}

// keyFor returns the key a turn as role/clearance uses.
func (r *Remote) keyFor(ctx context.Context, role access.Role, c access.Clearance) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.admin {
		return r.key, nil
	}
	k := [2]string{string(role), string(c)}
	if s, ok := r.keys[k]; ok {
		return s, nil
	}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	body := map[string]string{"name": "eval-" + string(role) + "-" + string(c), "role": string(role), "clearance": string(c), "expires_in": "6h"}
	if err := r.do(ctx, http.MethodPost, "/v1/keys", r.key, body, &created); err != nil {
		return "", fmt.Errorf("evals: create a %s/%s key on the remote: %w", role, c, err)
	}
	r.keys[k] = created.Key
	r.minted = append(r.minted, created.ID)
	return created.Key, nil
}

// Chat posts one turn.
func (r *Remote) Chat(ctx context.Context, req ChatRequest) (agents.ChatResult, error) {
	key, err := r.keyFor(ctx, req.Role, req.Clearance)
	if err != nil {
		return agents.ChatResult{}, err
	}
	body := map[string]any{"message": req.Message}
	if req.SessionID != "" {
		body["session_id"] = req.SessionID
	}
	var res agents.ChatResult
	err = r.do(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(req.Agent)+"/chat", key, body, &res)
	var re *RemoteError
	if errors.As(err, &re) && re.Status == http.StatusForbidden {
		return res, fmt.Errorf("%w: %s", ErrRefused, re.Detail)
	}
	return res, err
}

// Close revokes the keys the run created.
func (r *Remote) Close(ctx context.Context) error {
	r.mu.Lock()
	ids := r.minted
	r.minted, r.keys = nil, map[[2]string]string{}
	r.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := r.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), r.key, nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
