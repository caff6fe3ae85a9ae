package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCityProfile(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.City.TimeZone != "Asia/Shanghai" || c.City.Currency != "CNY" || c.City.Units != UnitsMetric || c.City.Language != "zh" {
		t.Errorf("the demo city's profile by default: %+v", c.City)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "city:\n  name: Chicago\n  time_zone: America/Chicago\n  currency: USD\n  units: imperial\n  locale: en-US\n  language: en\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path, env(map[string]string{"CITYAGENT_CITY_TIMEZONE": "America/Denver", "CITYAGENT_CITY_UNITS": "metric"}))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := c.City.Location()
	if c.City.Name != "Chicago" || c.City.Currency != "USD" || c.City.Units != UnitsMetric || err != nil || loc.String() != "America/Denver" {
		t.Errorf("file then env: %+v (%v)", c.City, err)
	}
	for name, bad := range map[string]map[string]string{
		"zone":     {"CITYAGENT_CITY_TIMEZONE": "Mars/Olympus"},
		"currency": {"CITYAGENT_CITY_CURRENCY": "dollars"},
		"units":    {"CITYAGENT_CITY_UNITS": "furlongs"},
		"language": {"CITYAGENT_CITY_LANGUAGE": "fr"},
	} {
		if _, err := Load("", env(bad)); err == nil || !strings.Contains(err.Error(), "city.") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
