package config

import (
	"fmt"
	"time"
)

// HotlineConfig tunes the hotline (12345 / 311) triage and tickets.
type HotlineConfig struct {
	// Taxonomy is a taxonomy YAML file (types, categories, departments,
	// deadlines, replies); empty = the demo city's, built in.
	Taxonomy string `yaml:"taxonomy"`
	// Deadline bounds every ticket call: a model that is slower is cut and
	// the rules answer (degraded). Default 10s.
	Deadline time.Duration `yaml:"deadline"`
	// IdempotencyTTL is how long Idempotency-Keys are kept; at least 24h.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// AutoApprove approves the dispatch of categories the taxonomy marks
	// low_risk without a person; off by default (every dispatch waits for a
	// supervisor).
	AutoApprove bool `yaml:"auto_approve"`
	// PersonalData is the key of callers' personal data (config/personal.go).
	PersonalData PersonalDataConfig `yaml:",inline"`
}

// defaultHotline is the hotline's part of Default.
func defaultHotline() HotlineConfig {
	return HotlineConfig{Deadline: 10 * time.Second, IdempotencyTTL: 24 * time.Hour}
}

// problems lists what is wrong with the hotline settings.
func (h HotlineConfig) problems() []string {
	var p []string
	if h.Deadline < 500*time.Millisecond || h.Deadline > 5*time.Minute {
		p = append(p, fmt.Sprintf("hotline.deadline: want between 500ms and 5m, got %s", h.Deadline))
	}
	if h.IdempotencyTTL < 24*time.Hour {
		p = append(p, fmt.Sprintf("hotline.idempotency_ttl: keys are kept at least 24h, got %s", h.IdempotencyTTL))
	}
	return append(p, h.PersonalData.problems()...)
}
