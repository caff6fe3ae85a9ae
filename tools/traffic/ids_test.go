package traffic_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/traffic"
)

// feedOrder is the demo city's traffic under a feed whose segment ids come
// in no order, as Chicago's do: 1309 first, 88 last.
type feedOrder struct {
	traffic.Source
	net traffic.Network
}

func (f feedOrder) Network() traffic.Network { return f.net }

func TestToolsSegmentIDsInFeedOrderAreNoRange(t *testing.T) {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	net := c.Network()
	net.SegmentIDPattern = ""
	segs := net.Segments[:4]
	for i, id := range []string{"1309", "402", "1024", "88"} {
		segs[i].ID = id
	}
	net.Segments = segs
	ts := citytooltest.ByName(traffic.Tools(feedOrder{c, net}, func() time.Time { return now }))
	d := citytooltest.SchemaOf(t, ts[traffic.NameSegment]).Properties["segment_id"].Description
	if strings.Contains(d, "1309–88") || !strings.Contains(d, "Valid ids 有效编号: e.g. 1309, 402, 1024, …") {
		t.Errorf("segment_id: %s", d)
	}
}

func TestToolsSortedSegmentIDsKeepTheirRange(t *testing.T) {
	_, ts := fixture(t)
	d := citytooltest.SchemaOf(t, ts[traffic.NameSegment]).Properties["segment_id"].Description
	if !strings.Contains(d, "Valid ids 有效编号: S001–S") {
		t.Errorf("segment_id: %s", d)
	}
}
