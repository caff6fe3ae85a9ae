package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// ToolRecord is a developer-registered tool or tool source as stored: its
// name, kind (http, openapi, mcp) and JSON definition. The definition names
// the environment variables that hold secrets, never the secrets.
type ToolRecord struct {
	Name       string
	Kind       string
	Definition json.RawMessage
	CreatedAt  time.Time
	CreatedBy  string // key id of the developer who registered it
}

// Tables of the two kinds of record.
const (
	toolsTable   = "registered_tools"
	sourcesTable = "tool_sources"
)

// CreateTool stores a registered tool. A name already stored gives ErrConflict.
func (db *DB) CreateTool(ctx context.Context, t ToolRecord) error {
	return db.createToolRecord(ctx, toolsTable, t)
}

// ListTools returns every registered tool by name.
func (db *DB) ListTools(ctx context.Context) ([]ToolRecord, error) {
	return db.listToolRecords(ctx, toolsTable)
}

// DeleteTool removes a registered tool; an unknown name gives ErrNotFound.
func (db *DB) DeleteTool(ctx context.Context, name string) error {
	return db.deleteToolRecord(ctx, toolsTable, name)
}

// CreateToolSource stores a tool source. A name already stored gives ErrConflict.
func (db *DB) CreateToolSource(ctx context.Context, s ToolRecord) error {
	return db.createToolRecord(ctx, sourcesTable, s)
}

// ListToolSources returns every tool source by name.
func (db *DB) ListToolSources(ctx context.Context) ([]ToolRecord, error) {
	return db.listToolRecords(ctx, sourcesTable)
}

// DeleteToolSource removes a tool source; an unknown name gives ErrNotFound.
func (db *DB) DeleteToolSource(ctx context.Context, name string) error {
	return db.deleteToolRecord(ctx, sourcesTable, name)
}

func (db *DB) createToolRecord(ctx context.Context, table string, t ToolRecord) error {
	if t.Name == "" || t.Kind == "" || !json.Valid(t.Definition) {
		return fmt.Errorf("store: create %s %q: empty name or kind, or a definition that is not JSON", table, t.Name)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO "+table+" (name, kind, definition, created_at, created_by) VALUES (?, ?, ?, ?, ?)"),
			t.Name, t.Kind, string(t.Definition), nanos(t.CreatedAt), t.CreatedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create %s %s: %w", table, t.Name, db.classify(err))
	}
	return nil
}

func (db *DB) listToolRecords(ctx context.Context, table string) ([]ToolRecord, error) {
	q := "SELECT name, kind, definition, created_at, created_by FROM " + table + " ORDER BY name"
	out, err := queryRows(ctx, db.sql, q, nil, func(s scanner) (ToolRecord, error) {
		var t ToolRecord
		var def string
		var created int64
		err := s.Scan(&t.Name, &t.Kind, &def, &created, &t.CreatedBy)
		t.Definition, t.CreatedAt = json.RawMessage(def), fromNanos(created)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", table, err)
	}
	return out, nil
}

func (db *DB) deleteToolRecord(ctx context.Context, table, name string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("DELETE FROM "+table+" WHERE name = ?"), name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete %s %s: %w", table, name, err)
	}
	return nil
}
