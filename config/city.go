package config

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones whatever the machine has
)

// CityConfig is the city the agents serve: its name, the zone every time in
// answers and citations is shown in, the currency of fees, the units of
// speeds, and the language answers default to. The demo city's are the
// defaults (Asia/Shanghai, CNY, metric, zh-CN).
type CityConfig struct {
	Name string `yaml:"name"`
	// TimeZone is an IANA zone (America/Chicago); sources' floating times
	// are read in it and results are shown in it (CITYAGENT_CITY_TIMEZONE).
	TimeZone string `yaml:"time_zone"`
	// Currency is an ISO 4217 code (USD) fees are shown in (CITYAGENT_CITY_CURRENCY).
	Currency string `yaml:"currency"`
	// Units is metric (km/h) or imperial (mph) (CITYAGENT_CITY_UNITS).
	Units string `yaml:"units"`
	// Locale is a BCP 47 tag (en-US) (CITYAGENT_CITY_LOCALE).
	Locale string `yaml:"locale"`
	// Language is the default answer language, zh or en (CITYAGENT_CITY_LANGUAGE).
	Language string `yaml:"language"`
}

// Unit systems of CityConfig.Units.
const (
	UnitsMetric   = "metric"
	UnitsImperial = "imperial"
)

// DefaultCity is the demo city's profile.
func DefaultCity() CityConfig {
	return CityConfig{Name: "Demo City", TimeZone: "Asia/Shanghai", Currency: "CNY", Units: UnitsMetric, Locale: "zh-CN", Language: "zh"}
}

// Location loads the city's zone; call it after Validate.
func (c CityConfig) Location() (*time.Location, error) {
	return time.LoadLocation(c.TimeZone)
}

// cityEnv lists the city's environment variables, part of Env.
var cityEnv = []EnvVar{
	{"CITYAGENT_CITY_NAME", "the city's name (city.name)", func(c *Config, v string) error { c.City.Name = v; return nil }},
	{"CITYAGENT_CITY_TIMEZONE", "IANA time zone answers and citations are shown in, e.g. America/Chicago (city.time_zone)", func(c *Config, v string) error { c.City.TimeZone = v; return nil }},
	{"CITYAGENT_CITY_CURRENCY", "ISO 4217 currency of fees, e.g. USD (city.currency)", func(c *Config, v string) error { c.City.Currency = v; return nil }},
	{"CITYAGENT_CITY_UNITS", "metric (km/h) or imperial (mph) (city.units)", func(c *Config, v string) error { c.City.Units = v; return nil }},
	{"CITYAGENT_CITY_LOCALE", "BCP 47 locale, e.g. en-US (city.locale)", func(c *Config, v string) error { c.City.Locale = v; return nil }},
	{"CITYAGENT_CITY_LANGUAGE", "default answer language, zh or en (city.language)", func(c *Config, v string) error { c.City.Language = v; return nil }},
}

func (c CityConfig) problems() []string {
	var p []string
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" || c.TimeZone == "Local" {
		p = append(p, fmt.Sprintf("city.time_zone: want an IANA zone such as America/Chicago, got %q", c.TimeZone))
	}
	if len(c.Currency) != 3 || strings.ToUpper(c.Currency) != c.Currency {
		p = append(p, fmt.Sprintf("city.currency: want an ISO 4217 code such as USD, got %q", c.Currency))
	}
	if c.Units != UnitsMetric && c.Units != UnitsImperial {
		p = append(p, fmt.Sprintf("city.units: want metric or imperial, got %q", c.Units))
	}
	if c.Language != "zh" && c.Language != "en" {
		p = append(p, fmt.Sprintf("city.language: want zh or en, got %q", c.Language))
	}
	if c.Locale == "" || strings.ContainsAny(c.Locale, " _") {
		p = append(p, fmt.Sprintf("city.locale: want a BCP 47 tag such as en-US, got %q", c.Locale))
	}
	return p
}
