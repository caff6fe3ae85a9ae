package store

import (
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// poolSettings size the connection pool to PostgreSQL. A URL may set them
// with pgxpool's parameter names — pool_max_conns, pool_min_conns,
// pool_max_conn_lifetime, pool_max_conn_idle_time — and what it sets is
// what the pool gets; unset ones keep the defaults below.
type poolSettings struct {
	MaxConns        int
	MinConns        int // kept idle
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
}

func defaultPool() poolSettings {
	return poolSettings{MaxConns: postgresMaxConns, MinConns: postgresMaxConns / 2, MaxConnIdleTime: 5 * time.Minute}
}

func (p poolSettings) apply(db *sql.DB) {
	db.SetMaxOpenConns(p.MaxConns)
	db.SetMaxIdleConns(min(max(p.MinConns, 0), p.MaxConns))
	db.SetConnMaxLifetime(p.MaxConnLifetime)
	db.SetConnMaxIdleTime(p.MaxConnIdleTime)
}

// splitPoolParams takes the pool_* parameters out of a PostgreSQL URL (the
// server would refuse them as unknown run-time parameters) and returns the
// rest of the URL with the pool they ask for. Key=value connection strings
// pass through unchanged with the default pool.
func splitPoolParams(raw string) (string, poolSettings, error) {
	p := defaultPool()
	if !strings.Contains(raw, "://") {
		return raw, p, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", p, fmt.Errorf("database URL does not parse") // never echo it: it may hold a password
	}
	q := u.Query()
	var errs []string
	intParam := func(name string, dst *int, lo int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo {
				errs = append(errs, fmt.Sprintf("%s=%q: want an integer ≥ %d", name, v, lo))
			} else {
				*dst = n
			}
		}
		q.Del(name)
	}
	durParam := func(name string, dst *time.Duration) {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Sprintf("%s=%q: want a duration such as 30m", name, v))
			} else {
				*dst = d
			}
		}
		q.Del(name)
	}
	_, minSet := q["pool_min_conns"]
	intParam("pool_max_conns", &p.MaxConns, 1)
	intParam("pool_min_conns", &p.MinConns, 0)
	durParam("pool_max_conn_lifetime", &p.MaxConnLifetime)
	durParam("pool_max_conn_idle_time", &p.MaxConnIdleTime)
	q.Del("pool_health_check_period") // pgxpool's; database/sql checks connections as it hands them out
	if len(errs) > 0 {
		return "", p, fmt.Errorf("database URL: %s", strings.Join(errs, "; "))
	}
	if !minSet {
		p.MinConns = min(p.MinConns, p.MaxConns)
	}
	if p.MinConns > p.MaxConns {
		return "", p, fmt.Errorf("database URL: pool_min_conns %d is above pool_max_conns %d", p.MinConns, p.MaxConns)
	}
	u.RawQuery = q.Encode()
	return u.String(), p, nil
}

// PoolMaxConns is the most connections db opens to its database (the
// embedded store's fixed pool, or PostgreSQL's as configured).
func (db *DB) PoolMaxConns() int { return db.sql.Stats().MaxOpenConnections }
