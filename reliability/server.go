// Package reliability drives a built cityagent binary over HTTP to check
// that it holds under bad input, kill -9 during writes, failing
// dependencies and bursts of streamed turns (docs/reliability.md). The
// command in cmd/cityagent-reliability runs it and prints one table.
package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Server is one cityagent serve process on a loopback port.
type Server struct {
	Bin, Data, Addr, LogPath string
	Env                      []string // extra environment, KEY=VALUE
	Args                     []string // extra serve flags (e.g. --config)
	Admin                    string   // the bootstrap admin key

	cmd    *exec.Cmd
	exited chan struct{}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start starts the process (on a new port if Addr is empty) and waits until
// /healthz answers. Its output is appended to LogPath across restarts.
func (s *Server) Start(ctx context.Context) error {
	if s.Addr == "" {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		s.Addr = a
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := append([]string{"serve", "--data", s.Data, "--addr", s.Addr}, s.Args...)
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.Bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("cityagent exited during start-up (log: %s)", s.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.URL("/healthz"))
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Data, "admin.key"))
		if err != nil {
			return fmt.Errorf("read admin key: %w", err)
		}
		s.Admin = strings.TrimSpace(string(b))
		return nil
	}
	s.Kill()
	return errors.New("cityagent did not become healthy within 60s")
}

// URL is the address of path on this server.
func (s *Server) URL(path string) string { return "http://" + s.Addr + path }

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// Stop asks for a graceful shutdown and kills after 15 s.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.Kill()
	}
}

// Panics counts log lines that mention a panic.
func (s *Server) Panics() int {
	b, _ := os.ReadFile(s.LogPath)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(strings.ToLower(l), "panic") {
			n++
		}
	}
	return n
}

// Response is what one request got.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// client is shared by every check; it keeps many loopback connections.
var client = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, ExpectContinueTimeout: 2 * time.Second}}

// Do sends one request. key "" sends no Authorization header.
func (s *Server) Do(ctx context.Context, method, path, key, ctype string, body []byte, hdr map[string]string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL(path), bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// JSON sends v as a JSON body and decodes a 2xx answer into out (if not nil).
func (s *Server) JSON(ctx context.Context, method, path, key string, v any, out any, hdr map[string]string) (Response, error) {
	var body []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return Response{}, err
		}
		body = b
	}
	ctype := ""
	if body != nil {
		ctype = "application/json"
	}
	r, err := s.Do(ctx, method, path, key, ctype, body, hdr)
	if err != nil {
		return r, err
	}
	if out != nil && r.Status/100 == 2 {
		if err := json.Unmarshal(r.Body, out); err != nil {
			return r, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return r, nil
}

// CreateKey makes a key with the admin key and returns its secret.
func (s *Server) CreateKey(ctx context.Context, name, role, clearance string) (string, error) {
	var out struct {
		Key string `json:"key"`
	}
	r, err := s.JSON(ctx, "POST", "/v1/keys", s.Admin, map[string]string{"name": name, "role": role, "clearance": clearance}, &out, nil)
	if err != nil {
		return "", err
	}
	if r.Status != 201 && r.Status != 200 {
		return "", fmt.Errorf("create key %s: %d %s", name, r.Status, r.Body)
	}
	return out.Key, nil
}
