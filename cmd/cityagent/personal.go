package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/pii"
)

// personalKeyFile is where the personal-data key is generated when the
// configuration sets none.
const personalKeyFile = "personal.key"

// personalKeyring builds the key ring of callers' personal data: the
// configured key (hotline.personal_data_key, CITYAGENT_PERSONAL_DATA_KEY)
// or the one in <data>/personal.key, generated on first start, plus the
// keys rotated out.
func personalKeyring(cfg config.Config, log *slog.Logger) (*pii.Keyring, error) {
	current, old, err := cfg.Hotline.PersonalData.Keys()
	if err != nil {
		return nil, err
	}
	if current == nil {
		path := filepath.Join(cfg.DataDir, personalKeyFile)
		var created bool
		if current, created, err = pii.LoadOrCreateKeyFile(path); err != nil {
			return nil, err
		}
		if created {
			log.Info("generated the personal-data key; back it up: without it callers' personal data cannot be revealed", "path", path,
				"key_id", pii.KeyID(current))
		}
	}
	return pii.NewKeyring(current, old...)
}

// maintainPersonal masks tickets stored in the clear before this version,
// re-seals personal data under the current key, and warns about data
// sealed with keys the server does not have.
func maintainPersonal(ctx context.Context, svc *hotline.Service, log *slog.Logger) error {
	r, err := svc.MaintainPersonal(ctx)
	if err != nil {
		return err
	}
	if r.Masked > 0 || r.Resealed > 0 {
		log.Info("personal data maintained", "tickets_masked_in_place", r.Masked, "rows_resealed", r.Resealed, "rows_by_key", r.KeyIDs)
	}
	if len(r.Unknown) > 0 {
		log.Warn("personal data is sealed with keys this server does not have: revealing it fails until they are configured (hotline.personal_data_old_keys)",
			"key_ids", r.Unknown)
	}
	return nil
}
