// Package sources builds the city adapters — traffic, permits and energy
// tools — over the data source configuration chooses for each: the demo
// city, an NGSI-LD context broker, a Socrata SODA dataset, or a CSV/JSON
// table. The same tools answer whichever source is configured; only the
// citation and the optional abilities (incidents, inspections, demand
// response) differ.
package sources

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/internal/httpget"
	"github.com/cityagent/cityagent/tools/sources/ngsild"
	"github.com/cityagent/cityagent/tools/sources/soda"
	"github.com/cityagent/cityagent/tools/sources/tabular"
	"github.com/cityagent/cityagent/tools/traffic"
)

// Deps are what the sources are built with.
type Deps struct {
	// City is the demo city, used by every source of kind democity.
	City *democity.City
	// Clock gives "now" to the tools (nil = time.Now).
	Clock func() time.Time
	// Getenv reads the app tokens' variables (nil = os.Getenv).
	Getenv func(string) string
	// HTTP is the client for configured sources (nil = 30 s timeout). These
	// URLs come from the operator's configuration, not from API callers, so
	// they do not go through the outbound guard of registered tools.
	HTTP *http.Client
	// Profile is the city the configured sources serve: their floating
	// times are read in its zone, results shown in it, fees in its currency
	// and speeds in its units. The zero profile keeps the demo city's.
	Profile config.CityConfig
	// Log receives warnings about source entities left out as bad data (nil: none).
	Log *slog.Logger
}

// Tools builds the traffic, permits and energy tools from cfg.
func Tools(ctx context.Context, cfg config.SourcesConfig, d Deps) ([]tools.Tool, error) {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Getenv == nil {
		d.Getenv = os.Getenv
	}
	if d.HTTP == nil {
		d.HTTP = httpget.NewClient(30 * time.Second)
	}
	loc := time.Local
	if d.City != nil {
		loc = d.City.Location()
	}
	if d.Profile.TimeZone != "" {
		l, err := d.Profile.Location()
		if err != nil {
			return nil, fmt.Errorf("city.time_zone: %w", err)
		}
		loc = l
	}
	var out []tools.Tool
	tsrc, err := trafficSource(ctx, cfg.Traffic, d, loc)
	if err != nil {
		return nil, fmt.Errorf("sources.traffic (%s): %w", cfg.Traffic.KindOrDefault(), err)
	}
	out = append(out, traffic.Tools(tsrc, d.Clock)...)
	psrc, err := permitSource(ctx, cfg.Permits, d, loc)
	if err != nil {
		return nil, fmt.Errorf("sources.permits (%s): %w", cfg.Permits.KindOrDefault(), err)
	}
	out = append(out, permits.Tools(psrc, d.Clock)...)
	esrc, err := energySource(ctx, cfg.Energy, d, loc)
	if err != nil {
		return nil, fmt.Errorf("sources.energy (%s): %w", cfg.Energy.KindOrDefault(), err)
	}
	out = append(out, energy.Tools(esrc, d.Clock)...)
	return out, nil
}

func (d Deps) city() (*democity.City, error) {
	if d.City == nil {
		return nil, fmt.Errorf("the demo city is not built")
	}
	return d.City, nil
}

func (d Deps) token(c config.SourceConfig) string {
	if c.AppTokenEnv == "" {
		return ""
	}
	return d.Getenv(c.AppTokenEnv)
}

func (d Deps) broker(c config.SourceConfig) (*ngsild.Client, error) {
	return ngsild.NewClient(ngsild.Config{BaseURL: c.URL, Context: c.Context, Tenant: c.Tenant, Token: d.token(c), HTTP: d.HTTP})
}

func (d Deps) table(c config.SourceConfig, loc *time.Location, what string) tabular.Config {
	return tabular.Config{Kind: c.Kind, URL: c.URL, Mapping: c.Mapping, Token: d.token(c), HTTP: d.HTTP, Location: loc,
		Source: c.Kind + ":" + what, Currency: d.Profile.Currency}
}

func trafficSource(ctx context.Context, c config.SourceConfig, d Deps, loc *time.Location) (traffic.Source, error) {
	switch c.KindOrDefault() {
	case config.SourceDemoCity:
		return d.city()
	case config.SourceNGSILD:
		cl, err := d.broker(c)
		if err != nil {
			return nil, err
		}
		return ngsild.NewTraffic(ctx, cl, ngsild.TrafficConfig{Location: loc, Mapping: c.Mapping, Units: d.Profile.Units, Log: d.Log})
	case config.SourceSODA:
		return soda.NewTraffic(ctx, soda.TrafficConfig{URL: c.URL, AppToken: d.token(c), Mapping: c.Mapping, HTTP: d.HTTP, Location: loc,
			Districts: c.Districts, Units: d.Profile.Units})
	}
	return nil, fmt.Errorf("kind %q cannot serve traffic", c.Kind)
}

func permitSource(ctx context.Context, c config.SourceConfig, d Deps, loc *time.Location) (permits.Source, error) {
	switch c.KindOrDefault() {
	case config.SourceDemoCity:
		return d.city()
	case config.SourceSODA:
		return soda.New(ctx, soda.Config{URL: c.URL, AppToken: d.token(c), Mapping: c.Mapping, HTTP: d.HTTP, Location: loc,
			Districts: c.Districts, Currency: d.Profile.Currency})
	case config.SourceCSV, config.SourceHTTPJSON:
		return tabular.NewPermits(ctx, d.table(c, loc, "permits"))
	}
	return nil, fmt.Errorf("kind %q cannot serve permits", c.Kind)
}

func energySource(ctx context.Context, c config.SourceConfig, d Deps, loc *time.Location) (energy.Source, error) {
	switch c.KindOrDefault() {
	case config.SourceDemoCity:
		return d.city()
	case config.SourceNGSILD:
		cl, err := d.broker(c)
		if err != nil {
			return nil, err
		}
		return ngsild.NewEnergy(ctx, cl, ngsild.EnergyConfig{Location: loc, Mapping: c.Mapping, Log: d.Log})
	case config.SourceCSV, config.SourceHTTPJSON:
		return tabular.NewEnergy(ctx, d.table(c, loc, "energy"), 0)
	}
	return nil, fmt.Errorf("kind %q cannot serve energy", c.Kind)
}
