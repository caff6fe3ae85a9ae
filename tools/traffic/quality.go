package traffic

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// finiteObs reports whether every figure of o is a number (no NaN or ±Inf),
// so that it can be ranked and encoded.
func finiteObs(o Observation) bool {
	for _, x := range []float64{o.FlowVehH, o.SpeedKmh, o.Occupancy, o.TravelTimeSec, o.FreeFlowTimeSec, o.CongestionIndex, o.Level, o.VCRatio} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	for _, l := range o.Lanes {
		for _, x := range []float64{l.FlowVehH, l.SpeedKmh, l.Occupancy} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
	}
	return true
}

// quality counts what a result's observations lacked: observations left
// out for figures that are not numbers, readings the source dropped as
// implausible, and segments shown without a current measurement.
type quality struct {
	skipped, rejected, estimated int
}

// usable returns obs without the observations whose figures are not
// numbers, counting them and the rest's rejected and estimated figures.
func (q *quality) usable(obs []Observation) []Observation {
	out := make([]Observation, 0, len(obs))
	for _, o := range obs {
		if q.use(o) {
			out = append(out, o)
		}
	}
	return out
}

// use is usable for one observation: whether to keep it, counting it.
func (q *quality) use(o Observation) bool {
	if !finiteObs(o) {
		q.skipped++
		return false
	}
	q.rejected += o.Rejected
	return true
}

// notes says what q counted, in English and Chinese.
func (q quality) notes() (en, zh []string) {
	if q.skipped > 0 {
		en = append(en, fmt.Sprintf("%d segment observations had figures that are not numbers and were left out", q.skipped))
		zh = append(zh, fmt.Sprintf("%d条路段观测数值无效，已剔除", q.skipped))
	}
	if q.rejected > 0 {
		en = append(en, fmt.Sprintf("%d readings were unreadable or implausible (e.g. negative, non-numeric or out of range) and were ignored", q.rejected))
		zh = append(zh, fmt.Sprintf("%d个读数无法识别或不合理（如负值、非数字或超出范围），已忽略", q.rejected))
	}
	if q.estimated > 0 {
		en = append(en, fmt.Sprintf("%d segments have no current data and are shown at free-flow speed (estimated)", q.estimated))
		zh = append(zh, fmt.Sprintf("%d个路段无当前数据，按畅行车速估计", q.estimated))
	}
	return en, zh
}

// addNote adds a source's note (English and Chinese; Chinese falls back
// to a generic one rather than English) unless it is there already.
func addNote(en, zh []string, noteEn, noteZh string) ([]string, []string) {
	if noteEn == "" || slices.Contains(en, noteEn) {
		return en, zh
	}
	if noteZh == "" {
		noteZh = "数据源说明（英文）：" + noteEn
	}
	return append(en, noteEn), append(zh, noteZh)
}

// observedAsOf is what a result is as of: the newest time the source
// measured any of obs, in now's zone, or now when it says none.
func observedAsOf(obs []Observation, now time.Time) time.Time {
	var newest time.Time
	for _, o := range obs {
		if o.ObservedAt.After(newest) {
			newest = o.ObservedAt
		}
	}
	return asOfNewest(newest, now)
}

// asOfNewest is observedAsOf of observations whose newest measurement was
// at newest (zero: none said).
func asOfNewest(newest, now time.Time) time.Time {
	if newest.IsZero() || newest.After(now) {
		return now
	}
	return newest.In(now.Location())
}

// freeFlow shows a free-flow speed in the city's units without a unit:
// whole when it is whole there, else to the speed's one decimal, so that
// it is never rounded differently from the speed beside it.
func (c *catalog) freeFlow(kmh float64) string {
	v := c.SpeedIn(kmh)
	if r := math.Round(v*10) / 10; r != math.Round(v) {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", v)
}

// writeNotes ends a summary with the notes, each language its own.
func writeNotes(be, bz *strings.Builder, notes, notesZh []string) {
	for _, n := range notes {
		fmt.Fprintf(be, " Note: %s.", n)
	}
	for _, n := range notesZh {
		fmt.Fprintf(bz, "注：%s。", n)
	}
}
