package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// NewKey mints an API key. The secret is returned once and never stored; the
// store keeps only its hash.
// A department key's department is set on the returned key by the caller.
func NewKey(name string, role access.Role, clearance access.Clearance, expires *time.Time, createdBy string, now time.Time) (store.Key, string) {
	secret := access.NewKeySecret()
	id := "key_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	return store.Key{ID: id, Name: name, Role: role, Clearance: clearance, Hash: access.HashKey(secret),
		CreatedAt: now.UTC(), ExpiresAt: expires, CreatedBy: createdBy}, secret
}

// IssueKey validates the request, mints the key and stores it.
func IssueKey(ctx context.Context, ks KeyStore, req KeyRequest, createdBy string, now time.Time) (store.Key, string, error) {
	var errs []FieldError
	name := strings.TrimSpace(req.Name)
	if name == "" || len([]rune(name)) > 100 {
		errs = append(errs, FieldError{"name", "must be 1 to 100 characters"})
	}
	role, err := access.ParseRole(req.Role)
	if err != nil {
		errs = append(errs, FieldError{"role", "must be one of operator, supervisor, hotline, department, developer, admin"})
	}
	dept := strings.TrimSpace(req.Department)
	switch {
	case role == access.RoleDepartment && dept == "":
		errs = append(errs, FieldError{"department", "is required for a department key: the department whose queue it serves, e.g. water"})
	case role != access.RoleDepartment && dept != "":
		errs = append(errs, FieldError{"department", "only a key of role department is bound to a department"})
	case dept != "" && !departmentIDRE.MatchString(dept):
		errs = append(errs, FieldError{"department", "must be a department id of the hotline taxonomy, e.g. water"})
	}
	cl, err := access.ParseClearance(req.Clearance)
	if err != nil {
		errs = append(errs, FieldError{"clearance", "must be one of public, internal, sensitive, restricted"})
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			errs = append(errs, FieldError{"expires_in", "must be a positive duration such as 720h"})
		} else {
			at := now.Add(d).UTC()
			expires = &at
		}
	}
	if len(errs) > 0 {
		return store.Key{}, "", badRequest("the key request is invalid", errs...)
	}
	k, secret := NewKey(name, role, cl, expires, createdBy, now)
	k.Department = dept
	if err := ks.CreateKey(ctx, k); err != nil {
		return store.Key{}, "", fmt.Errorf("server: create key: %w", err)
	}
	return k, secret, nil
}

// departmentIDRE is the shape of a taxonomy department id; whether the
// taxonomy has it is checked by knownDepartment.
var departmentIDRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// knownDepartment refuses a department key for a department the hotline
// taxonomy does not have (or when the hotline is off, so there is none).
func (s *Server) knownDepartment(req KeyRequest) error {
	dept := strings.TrimSpace(req.Department)
	if dept == "" || !departmentIDRE.MatchString(dept) {
		return nil // IssueKey's 400 says what is wrong
	}
	if s.deps.Hotline == nil {
		return badRequest("the key request is invalid", FieldError{"department", "the hotline is not enabled on this server, so it has no departments"})
	}
	if _, ok := s.deps.Hotline.Taxonomy().Department(dept); !ok {
		return badRequest("the key request is invalid", FieldError{"department", fmt.Sprintf("%q is not a department of the hotline taxonomy", dept)})
	}
	return nil
}

// KeyRequest is the body of POST /v1/keys.
type KeyRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Clearance string `json:"clearance"`
	ExpiresIn string `json:"expires_in,omitempty"` // e.g. "720h"; empty = never
	// Department binds a department key to one department of the hotline
	// taxonomy; required for role department, refused for the others.
	Department string `json:"department,omitempty"`
}

type keyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Clearance  string     `json:"clearance"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Department string     `json:"department,omitempty"`
	Active     bool       `json:"active"`
	Key        string     `json:"key,omitempty"` // only in the response that created it
}

func keyViewOf(k store.Key, now time.Time) keyView {
	return keyView{ID: k.ID, Name: k.Name, Role: string(k.Role), Clearance: string(k.Clearance), CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, CreatedBy: k.CreatedBy, Department: k.Department, Active: k.Active(now)}
}

func (s *Server) createKey(c *fiber.Ctx) error {
	var req KeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := mayGrant(mustPrincipal(c), req); err != nil {
		return err
	}
	if err := s.knownDepartment(req); err != nil {
		return err
	}
	k, secret, err := IssueKey(c.UserContext(), s.deps.Keys, req, mustPrincipal(c).KeyID, s.deps.Now())
	if err != nil {
		return err
	}
	if err := s.deps.Audit.Audit(c.UserContext(), KeyAudit(audit.KindKeyCreate, mustPrincipal(c).KeyID, k)); err != nil {
		return err
	}
	v := keyViewOf(k, s.deps.Now())
	v.Key = secret
	c.Set(fiber.HeaderLocation, "/v1/keys/"+k.ID)
	return c.Status(fiber.StatusCreated).JSON(v)
}

// mayGrant refuses a key request above what the issuing key holds: a key
// never mints a role it does not include nor a clearance above its own.
// Invalid values are left to IssueKey's 400.
func mayGrant(by access.Principal, req KeyRequest) error {
	var errs []FieldError
	if r, err := access.ParseRole(req.Role); err == nil && !by.Role.Allows(r) {
		errs = append(errs, FieldError{"role", fmt.Sprintf("%s is not within this key's role %s", r, by.Role)})
	}
	if cl, err := access.ParseClearance(req.Clearance); err == nil && !by.Clearance.Covers(cl) {
		errs = append(errs, FieldError{"clearance", fmt.Sprintf("%s is above this key's clearance %s", cl, by.Clearance)})
	}
	if len(errs) == 0 {
		return nil
	}
	p := forbidden("a key cannot grant more than it holds (role " + string(by.Role) + ", clearance " + string(by.Clearance) + ")")
	p.Errors = errs
	return p
}

func (s *Server) listKeys(c *fiber.Ctx) error {
	ks, err := s.deps.Keys.ListKeys(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]keyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyViewOf(k, s.deps.Now()))
	}
	return c.JSON(fiber.Map{"keys": out})
}

func (s *Server) revokeKey(c *fiber.Ctx) error {
	id := c.Params("id")
	if id == mustPrincipal(c).KeyID {
		return &Problem{Status: fiber.StatusConflict, Title: "Conflict", Detail: "a key cannot revoke itself; use another admin key"}
	}
	k, err := s.deps.Keys.GetKey(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("unknown key " + id)
	}
	if err != nil {
		return err
	}
	// Like minting, revoking is bound by clearance: an admin below a key's
	// clearance could otherwise lock every higher admin out.
	if by := mustPrincipal(c); !by.Clearance.Covers(k.Clearance) {
		return forbidden(fmt.Sprintf("a key with clearance %s cannot revoke a key with clearance %s", by.Clearance, k.Clearance))
	}
	if k.RevokedAt != nil {
		return c.SendStatus(fiber.StatusNoContent)
	}
	if err := s.deps.Keys.RevokeKey(c.UserContext(), id, s.deps.Now().UTC()); err != nil {
		return err
	}
	if err := s.deps.Audit.Audit(c.UserContext(), KeyAudit(audit.KindKeyRevoke, mustPrincipal(c).KeyID, k)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// KeyAudit is the audit entry of a key change (never the secret or its hash).
func KeyAudit(kind, actor string, k store.Key) audit.Entry {
	return audit.Entry{Actor: actor, Kind: kind, Subject: k.ID, Payload: map[string]any{
		"name": k.Name, "role": k.Role, "clearance": k.Clearance, "expires_at": k.ExpiresAt, "department": k.Department}}
}
