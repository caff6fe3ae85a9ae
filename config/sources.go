package config

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
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
	// Districts names the source's district codes, e.g. Chicago's
	// community areas ("7": Lincoln Park), for results and tool schemas.
	Districts map[string]string `yaml:"districts"`
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
	"traffic": {SourceDemoCity, SourceNGSILD, SourceSODA},
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

// ToolSourcesConfig bounds the tool sources developers add at run time
// (POST /v1/tool-sources).
type ToolSourcesConfig struct {
	OpenAPI OpenAPIImportConfig `yaml:"openapi"`
}

// OpenAPIImportConfig bounds one OpenAPI import; docs/tools.md
// ("Importing OpenAPI documents") explains each limit.
type OpenAPIImportConfig struct {
	// MaxDocumentBytes bounds the document, inline, uploaded or fetched
	// from url (CITYAGENT_OPENAPI_MAX_DOCUMENT_BYTES).
	MaxDocumentBytes int64 `yaml:"max_document_bytes"`
	// MaxOperations bounds the tools one document adds after include and
	// exclude (CITYAGENT_OPENAPI_MAX_OPERATIONS).
	MaxOperations int `yaml:"max_operations"`
}

// Defaults that admit GitHub's REST description (13 MB, 1,223 operations);
// tools/openapi.DefaultLimits holds the same numbers.
const (
	DefaultOpenAPIMaxDocumentBytes = 32 << 20
	DefaultOpenAPIMaxOperations    = 2000
)

func defaultToolSources() ToolSourcesConfig {
	return ToolSourcesConfig{OpenAPI: OpenAPIImportConfig{MaxDocumentBytes: DefaultOpenAPIMaxDocumentBytes, MaxOperations: DefaultOpenAPIMaxOperations}}
}

func (t ToolSourcesConfig) problems() []string {
	var p []string
	if t.OpenAPI.MaxDocumentBytes < 1024 || t.OpenAPI.MaxDocumentBytes > 1<<30 {
		p = append(p, fmt.Sprintf("tool_sources.openapi.max_document_bytes: want 1024 to %d bytes, got %d", 1<<30, t.OpenAPI.MaxDocumentBytes))
	}
	if t.OpenAPI.MaxOperations < 1 || t.OpenAPI.MaxOperations > 100000 {
		p = append(p, fmt.Sprintf("tool_sources.openapi.max_operations: want 1 to 100000, got %d", t.OpenAPI.MaxOperations))
	}
	return p
}

func setInt64(n *int64, v string) error {
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return err
	}
	*n = x
	return nil
}
