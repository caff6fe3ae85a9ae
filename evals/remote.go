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
	"time"

	"github.com/cityagent/cityagent/agents"
)

// Remote runs turns on a cityagent server over its HTTP API
// (POST /v1/evals/turns, developer role): the server runs each turn as the
// key, never above its role or clearance, and reports the turn's proposals
// without queuing them. A case whose role or clearance the key does not
// hold fails with the server's refusal.
type Remote struct {
	base   string
	key    string
	client *http.Client
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
	return &Remote{base: strings.TrimRight(u.String(), "/"), key: strings.TrimSpace(key), client: client}, nil
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
// it).
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
	return inv, nil
}

// ErrNoEvalTurns is returned by Remote.Chat when the server has no
// POST /v1/evals/turns (an older cityagent): a remote eval never falls back
// to the chat route, whose proposals would enter the approval queue.
var ErrNoEvalTurns = errors.New("evals: the remote has no POST /v1/evals/turns; upgrade it (chatting through /v1/agents/{agent}/chat would queue the eval's proposals)")

// Chat posts one turn to POST /v1/evals/turns. A role or clearance the case
// left at the defaults is sent empty, so that the server lowers it to the
// key's.
func (r *Remote) Chat(ctx context.Context, req ChatRequest) (agents.ChatResult, error) {
	body := TurnRequest{Agent: req.Agent, SessionID: req.SessionID, Message: req.Message}
	if req.roleField != "" {
		body.Role = string(req.Role)
	}
	if req.clearanceField != "" {
		body.Clearance = string(req.Clearance)
	}
	var out TurnResult
	err := r.do(ctx, http.MethodPost, "/v1/evals/turns", r.key, body, &out)
	var re *RemoteError
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound && strings.Contains(re.Detail, "no route"):
		return agents.ChatResult{}, ErrNoEvalTurns
	case err != nil:
		return agents.ChatResult{}, err
	case out.Refused != "":
		return agents.ChatResult{}, fmt.Errorf("%w: %s", ErrRefused, out.Refused)
	case out.Result == nil:
		return agents.ChatResult{}, errors.New("evals: the remote answered an eval turn without a result")
	}
	return *out.Result, nil
}

// Close releases nothing today; a remote run holds no server-side state.
func (r *Remote) Close(context.Context) error { return nil }
