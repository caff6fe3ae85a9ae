package config

import (
	"fmt"

	"github.com/cityagent/cityagent/internal/pii"
)

// PersonalDataConfig is where the key that encrypts callers' personal data
// comes from (hotline.personal_data_key in the file). With no key, one is
// generated on first start into <data_dir>/personal.key (mode 0600), as
// admin.key is; replicas sharing a PostgreSQL state store must share the
// key, so set it in config or the environment there.
type PersonalDataConfig struct {
	// Key is base64 of 32 random bytes (openssl rand -base64 32).
	Key string `yaml:"personal_data_key"`
	// OldKeys are keys rotated out: they still open data sealed under them,
	// which start-up re-seals under Key (logged as rows_resealed); remove
	// one after a start that re-sealed its rows.
	OldKeys []string `yaml:"personal_data_old_keys"`
}

// personalEnv are the personal-data variables of Env.
var personalEnv = []EnvVar{
	{"CITYAGENT_PERSONAL_DATA_KEY", "key that encrypts callers' personal data: base64 of 32 random bytes (hotline.personal_data_key); empty = generated into <data>/personal.key",
		func(c *Config, v string) error { c.Hotline.PersonalData.Key = v; return nil }},
	{"CITYAGENT_PERSONAL_DATA_OLD_KEYS", "comma-separated keys rotated out, kept to open and re-seal older personal data (hotline.personal_data_old_keys)",
		func(c *Config, v string) error { c.Hotline.PersonalData.OldKeys = splitList(v); return nil }},
}

// Keys decodes the configured keys: current (nil when none is set) and old.
func (p PersonalDataConfig) Keys() (current []byte, old [][]byte, err error) {
	if p.Key != "" {
		if current, err = pii.ParseKey(p.Key); err != nil {
			return nil, nil, fmt.Errorf("hotline.personal_data_key: %w", err)
		}
	}
	for i, k := range p.OldKeys {
		b, err := pii.ParseKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("hotline.personal_data_old_keys[%d]: %w", i, err)
		}
		old = append(old, b)
	}
	return current, old, nil
}

// problems lists what is wrong with the personal-data keys.
func (p PersonalDataConfig) problems() []string {
	if _, _, err := p.Keys(); err != nil {
		return []string{err.Error()}
	}
	if p.Key == "" && len(p.OldKeys) > 0 {
		return []string{"hotline.personal_data_old_keys: set hotline.personal_data_key too (the key new data is sealed with)"}
	}
	return nil
}
