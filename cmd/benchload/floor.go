package main

import (
	"database/sql"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"
	_ "modernc.org/sqlite"
)

// runFloor serves the floor: a bare Fiber app whose one route inserts the
// request body into a SQLite table, with the state store's durability
// settings (WAL, synchronous=FULL: an fsync per commit) and one connection.
// It is what any chat turn costs at least: HTTP, a JSON body, a durable write.
func runFloor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	data := fs.String("data", "", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("-data is required")
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", filepath.Join(*data, "floor.db")+"?_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)`); err != nil {
		return err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Post("/insert", func(c *fiber.Ctx) error {
		var req struct {
			Message string `json:"message"`
		}
		if err := c.BodyParser(&req); err != nil {
			return fiber.ErrBadRequest
		}
		res, err := db.Exec(`INSERT INTO hits (body, at) VALUES (?, ?)`, req.Message, time.Now().UnixNano())
		if err != nil {
			return err
		}
		id, _ := res.LastInsertId()
		return c.JSON(fiber.Map{"id": id, "message": req.Message})
	})
	return app.Listen(*addr)
}
