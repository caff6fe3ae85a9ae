package server

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/events"
)

// createdWebhook is the answer to POST /v1/webhooks: the only time the
// secret is shown.
type createdWebhook struct {
	events.Webhook
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	var req events.WebhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.knownWebhookDepartment(req.Department); err != nil {
		return err
	}
	w, err := svc.CreateWebhook(c.UserContext(), mustPrincipal(c), req)
	var ie *events.InputError
	if errors.As(err, &ie) {
		fe := make([]FieldError, len(ie.Fields))
		for i, f := range ie.Fields {
			fe[i] = FieldError{f.Field, f.Message}
		}
		return badRequest("invalid webhook", fe...)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/v1/webhooks/"+w.ID)
	return c.Status(fiber.StatusCreated).JSON(createdWebhook{Webhook: w, Secret: w.Secret})
}

// knownWebhookDepartment refuses a webhook for a department the hotline
// taxonomy does not have, as knownDepartment does for a department key.
func (s *Server) knownWebhookDepartment(dept string) error {
	err := s.knownDepartment(KeyRequest{Department: dept})
	var p *Problem
	if errors.As(err, &p) {
		p.Detail = "invalid webhook"
	}
	return err
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	list, err := svc.Webhooks.ListWebhooks(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"webhooks": list})
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	w, err := svc.Webhooks.GetWebhook(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	if err := svc.DeleteWebhook(c.UserContext(), mustPrincipal(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// listDeliveries pages newest first; next_before continues.
func (s *Server) listDeliveries(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	var errs []FieldError
	limit, ferr := queryInt(c, "limit", 50, 1, 500)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	var before int64
	if raw := c.Query("before"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, FieldError{"before", "must be the next_before of the previous page (a positive integer)"})
		}
		before = n
	}
	if len(errs) > 0 {
		return badRequest("invalid query", errs...)
	}
	id := c.Params("id")
	if _, err := svc.Webhooks.GetWebhook(c.UserContext(), id); err != nil {
		return err
	}
	list, err := svc.Webhooks.ListDeliveries(c.UserContext(), id, before, limit+1)
	if err != nil {
		return err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = strconv.FormatInt(list[limit-1].EventSeq, 10)
	}
	return c.JSON(fiber.Map{"deliveries": list, "next_before": next})
}
