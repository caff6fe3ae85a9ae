package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// SourcesConfig chooses where each city adapter reads its data. An empty
// kind means the demo city.
type SourcesConfig struct {
	Traffic SourceConfig `yaml:"traffic"`
	Permits SourceConfig `yaml:"permits"`
	Energy  SourceConfig `yaml:"energy"`
}

// Source kinds.
const (
	SourceDemoCity = "democity" // the simulated city (default)
	SourceNGSILD   = "ngsild"   // a FIWARE NGSI-LD context broker
	SourceSODA     = "soda"     // a Socrata SODA dataset
	SourceCSV      = "csv"      // a CSV file or URL, with a column mapping
	SourceHTTPJSON = "httpjson" // an HTTP JSON array, with a field mapping
)

// SourceConfig is one adapter's source.
type SourceConfig struct {
	Kind string `yaml:"kind"`
	// URL is the broker's base URL (ngsild), the dataset's resource URL
	// such as https://data.cityofchicago.org/resource/ydr8-5enu.json (soda),
	// a file path or URL (csv) or a URL (httpjson).
	URL string `yaml:"url"`
	// Mapping maps the adapter's fields to the source's: for permits, BLDS
	// field → column (PermitNum: permit_); for NGSI-LD, adapter attribute →
	// entity attribute; for CSV/JSON energy readings, building_id, start, kw.
	Mapping map[string]string `yaml:"mapping"`
	// AppTokenEnv names the environment variable holding the app token
	// (SODA X-App-Token) or bearer token (NGSI-LD); the token itself never
	// goes into the file.
	AppTokenEnv string `yaml:"app_token_env"`
	// Context is the NGSI-LD @context URL sent in the Link header.
	Context string `yaml:"context"`
	// Tenant is the NGSI-LD tenant (NGSILD-Tenant header), if any.
	Tenant string `yaml:"tenant"`
}

// KindOrDefault is the source kind, the demo city when empty.
func (s SourceConfig) KindOrDefault() string {
	if s.Kind == "" {
		return SourceDemoCity
	}
	return s.Kind
}

// sourceKinds lists the kinds each adapter accepts.
var sourceKinds = map[string][]string{
	"traffic": {SourceDemoCity, SourceNGSILD},
	"permits": {SourceDemoCity, SourceSODA, SourceCSV, SourceHTTPJSON},
	"energy":  {SourceDemoCity, SourceNGSILD, SourceCSV, SourceHTTPJSON},
}

func (s SourcesConfig) problems() []string {
	var p []string
	for _, e := range []struct {
		name string
		c    SourceConfig
	}{{"traffic", s.Traffic}, {"permits", s.Permits}, {"energy", s.Energy}} {
		field := "sources." + e.name
		kind := e.c.KindOrDefault()
		ok := false
		for _, k := range sourceKinds[e.name] {
			ok = ok || k == kind
		}
		if !ok {
			p = append(p, fmt.Sprintf("%s.kind: want one of %s, got %q", field, strings.Join(sourceKinds[e.name], ", "), e.c.Kind))
			continue
		}
		switch kind {
		case SourceDemoCity:
			if e.c.URL != "" {
				p = append(p, field+".url: the demo city takes no url")
			}
		case SourceCSV:
			if e.c.URL == "" {
				p = append(p, field+".url: required (a file path or an http(s) URL of the CSV)")
			}
		default:
			if u, err := url.Parse(e.c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p = append(p, fmt.Sprintf("%s.url: want an http(s) URL for kind %s, got %q", field, kind, e.c.URL))
			}
		}
		keys := make([]string, 0, len(e.c.Mapping))
		for k := range e.c.Mapping {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.TrimSpace(k) == "" || strings.TrimSpace(e.c.Mapping[k]) == "" {
				p = append(p, fmt.Sprintf("%s.mapping: empty field name in %q: %q", field, k, e.c.Mapping[k]))
			}
		}
	}
	return p
}
