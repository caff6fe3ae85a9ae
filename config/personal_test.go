package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPersonalDataKeys(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	c, err := Load("", env(map[string]string{"CITYAGENT_PERSONAL_DATA_KEY": k1, "CITYAGENT_PERSONAL_DATA_OLD_KEYS": k2}))
	if err != nil {
		t.Fatal(err)
	}
	cur, old, err := c.Hotline.PersonalData.Keys()
	if err != nil || !bytes.Equal(cur, bytes.Repeat([]byte{1}, 32)) || len(old) != 1 || old[0][0] != 2 {
		t.Fatalf("keys from the environment: %v %v %v", cur, old, err)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("hotline:\n  personal_data_key: "+k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(file, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cur, _, _ := c.Hotline.PersonalData.Keys(); len(cur) != 32 || cur[0] != 2 {
		t.Errorf("key from the file: %v", cur)
	}
	if c, err := Load("", env(nil)); err != nil || c.Hotline.PersonalData.Key != "" {
		t.Errorf("default: %+v %v", c.Hotline.PersonalData, err)
	}
	for name, vars := range map[string]map[string]string{
		"short key":       {"CITYAGENT_PERSONAL_DATA_KEY": base64.StdEncoding.EncodeToString([]byte("too short"))},
		"not base64":      {"CITYAGENT_PERSONAL_DATA_KEY": "not a key!"},
		"old without new": {"CITYAGENT_PERSONAL_DATA_OLD_KEYS": k2},
		"bad old":         {"CITYAGENT_PERSONAL_DATA_KEY": k1, "CITYAGENT_PERSONAL_DATA_OLD_KEYS": k2 + ",x"},
	} {
		if _, err := Load("", env(vars)); err == nil || !strings.Contains(err.Error(), "personal_data") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
