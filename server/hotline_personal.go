package server

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
)

// PersonalRevealer is the optional ability of a HotlineService to show a
// ticket's personal data to a key cleared for it; *hotline.Service has it.
type PersonalRevealer interface {
	Reveal(ctx context.Context, id string, by access.Principal) (hotline.Revealed, error)
}

var _ PersonalRevealer = (*hotline.Service)(nil)

// revealTicket answers GET /v1/hotline/tickets/{id}?reveal=personal: the
// ticket with its caller's personal data and the request as written, for a
// key with sensitive clearance or above; the reveal is audited before the
// answer. Every other answer shows personal data masked.
func (s *Server) revealTicket(c *fiber.Ctx, svc HotlineService) error {
	if v := c.Query("reveal"); v != "personal" {
		return badRequest("invalid query", FieldError{"reveal", "must be personal (the only data that can be revealed)"})
	}
	rv, ok := svc.(PersonalRevealer)
	if !ok {
		return &Problem{Status: fiber.StatusNotImplemented, Title: "Not Implemented", Detail: "this hotline cannot reveal personal data"}
	}
	out, err := rv.Reveal(c.UserContext(), c.Params("id"), mustPrincipal(c))
	var ke *hotline.PersonalKeyError
	switch {
	case errors.Is(err, hotline.ErrRevealForbidden):
		return &Problem{Status: fiber.StatusForbidden, Title: "Forbidden", Detail: "revealing personal data needs a key with sensitive or restricted clearance"}
	case errors.As(err, &ke):
		s.log.Error("revealing personal data failed", "err", err, "request_id", requestID(c))
		return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: ke.Public()}
	case err != nil:
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}
