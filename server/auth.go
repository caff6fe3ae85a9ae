package server

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
)

const principalKey = "cityagent.principal"

const roleAdmin = access.RoleAdmin

func unauthorized(detail string) *Problem {
	return &Problem{Status: fiber.StatusUnauthorized, Title: "Unauthorized", Detail: detail}
}

// authenticate resolves the bearer key to a principal; every /v1 route needs one.
func (s *Server) authenticate(c *fiber.Ctx) error {
	p, err := s.principalFor(c.UserContext(), c.Get(fiber.HeaderAuthorization))
	if err != nil {
		return err
	}
	c.Locals(principalKey, p)
	return c.Next()
}

// principalFor resolves an Authorization header to the key's principal; the
// error is a 401 problem for a missing, malformed, unknown, revoked or
// expired key. The HTTP API and /mcp (server/mcp_auth.go) both use it.
func (s *Server) principalFor(ctx context.Context, h string) (access.Principal, error) {
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return access.Principal{}, unauthorized("send an API key as Authorization: Bearer <key>")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return access.Principal{}, unauthorized("the Authorization header must be Bearer <key>")
	}
	k, err := s.deps.Keys.KeyByHash(ctx, access.HashKey(strings.TrimSpace(secret)))
	if errors.Is(err, store.ErrNotFound) {
		return access.Principal{}, unauthorized("unknown API key")
	}
	if err != nil {
		return access.Principal{}, err
	}
	if !k.Active(s.deps.Now()) {
		return access.Principal{}, unauthorized("the API key is revoked or expired")
	}
	return access.Principal{KeyID: k.ID, Name: k.Name, Role: k.Role, Clearance: k.Clearance, Department: k.Department}, nil
}

// require admits only principals whose role allows need.
func (s *Server) require(need access.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, ok := principalOf(c)
		if !ok {
			return unauthorized("authentication required")
		}
		if !p.Role.Allows(need) {
			return forbidden("this route needs the " + string(need) + " role; the key has " + string(p.Role))
		}
		return c.Next()
	}
}

func principalOf(c *fiber.Ctx) (access.Principal, bool) {
	p, ok := c.Locals(principalKey).(access.Principal)
	return p, ok
}

func mustPrincipal(c *fiber.Ctx) access.Principal {
	p, _ := principalOf(c)
	return p
}
