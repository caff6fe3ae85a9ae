package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
)

// The operator console (docs/console.md): static files in console/, built
// into the binary, that talk to the public API with the key the user signs
// in with. The server gives the console no privilege: its pages are public,
// the data behind them is not.
//
//go:embed console
var consoleFiles embed.FS

// consoleCSP lets a console page load and call nothing but this origin.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleAsset is one embedded file with its validator.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// loadConsole reads the embedded console once.
func loadConsole() map[string]consoleAsset {
	out := map[string]consoleAsset{}
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[strings.TrimPrefix(p, "console/")] = consoleAsset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("server: the embedded console is unreadable: " + err.Error()) // a build defect, not a run-time condition
	}
	return out
}

// consoleRoutes serves GET /console (the page) and /console/<file>, and
// GET /v1/me, which tells the console who the key is.
func (s *Server) consoleRoutes(app *fiber.App, v1 fiber.Router) {
	assets := loadConsole()
	serve := func(c *fiber.Ctx, name string) error {
		a, ok := assets[name]
		if !ok {
			return &Problem{Status: fiber.StatusNotFound, Title: "Not Found", Detail: "no console file " + name}
		}
		c.Set("Content-Security-Policy", consoleCSP)
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		c.Set("Cache-Control", "no-cache")
		c.Set(fiber.HeaderETag, a.etag)
		if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, a.contentType)
		return c.Send(a.body)
	}
	app.Get("/console", func(c *fiber.Ctx) error { return serve(c, "index.html") })
	app.Get("/console/*", func(c *fiber.Ctx) error {
		name := c.Params("*")
		if name == "" {
			name = "index.html"
		}
		return serve(c, name)
	})
	v1.Get("/me", s.whoami)
}

// whoami is GET /v1/me: the key's id, name, role, clearance and department,
// and the roles its role includes (what the console may show).
func (s *Server) whoami(c *fiber.Ctx) error {
	p := mustPrincipal(c)
	includes := []access.Role{}
	for _, r := range access.Roles {
		if p.Role.Allows(r) {
			includes = append(includes, r)
		}
	}
	return c.JSON(fiber.Map{"key_id": p.KeyID, "name": p.Name, "role": p.Role, "clearance": p.Clearance,
		"department": p.Department, "includes": includes,
		"city": fiber.Map{"name": s.opts.CityName, "time_zone": s.opts.CityTimeZone}})
}
