package reports

import (
	"fmt"
	"strings"
	"time"
)

// Range limits.
const (
	// DefaultRange is the range when from is not given: the 7 days before to.
	DefaultRange = 7 * 24 * time.Hour
	// MaxRange is the longest range a report covers.
	MaxRange = 366 * 24 * time.Hour
	// MaxAhead is how far after now a bound may lie.
	MaxAhead = 366 * 24 * time.Hour
)

// Earliest is the earliest bound a report accepts: nothing the city stored
// is older, and years far from now cannot even be written as JSON times.
var Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// RangeError says which bound of a range is wrong; its message is safe to
// show the caller.
type RangeError struct {
	Field, Message string
}

func (e *RangeError) Error() string { return "reports: " + e.Field + ": " + e.Message }

const dateLayout = "2006-01-02"

// ParseRange reads a report's bounds. Each is RFC 3339 (an absolute time)
// or a date YYYY-MM-DD in the city's zone: from is the start of its day, to
// the end of its day (so from=2026-12-01&to=2026-12-07 is seven whole days).
// An empty to is now; an empty from is DefaultRange before to.
func (s *Service) ParseRange(fromText, toText string) (from, to time.Time, err error) {
	loc := s.loc()
	to = s.now()
	if strings.TrimSpace(toText) != "" {
		if to, err = parseBound("to", toText, loc, true); err != nil {
			return from, to, err
		}
	}
	from = to.Add(-DefaultRange)
	if strings.TrimSpace(fromText) != "" {
		if from, err = parseBound("from", fromText, loc, false); err != nil {
			return from, to, err
		}
	}
	if err := s.sane("to", to); err != nil {
		return from, to, err
	}
	if err := s.sane("from", from); err != nil {
		return from, to, err
	}
	switch {
	case !from.Before(to):
		return from, to, &RangeError{"from", fmt.Sprintf("must be before to (from %s, to %s)", from.In(loc).Format(time.RFC3339), to.In(loc).Format(time.RFC3339))}
	case to.Sub(from) > MaxRange:
		return from, to, &RangeError{"to", fmt.Sprintf("the range is %.1f days; at most %d days", to.Sub(from).Hours()/24, int(MaxRange.Hours()/24))}
	}
	return from, to, nil
}

func parseBound(field, v string, loc *time.Location, endOfDay bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(dateLayout, v, loc)
	if err != nil {
		return time.Time{}, &RangeError{field, fmt.Sprintf("want RFC 3339 (2026-12-01T08:00:00+08:00) or a date (2026-12-01), got %q", v)}
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// sane refuses a bound before Earliest or more than MaxAhead after now.
func (s *Service) sane(field string, t time.Time) error {
	latest := s.now().Add(MaxAhead)
	if t.Before(Earliest) || t.After(latest) {
		loc := s.loc()
		return &RangeError{field, fmt.Sprintf("must lie between %s and %s (a year after now), got %s",
			Earliest.In(loc).Format(dateLayout), latest.In(loc).Format(dateLayout), t.In(loc).Format(time.RFC3339))}
	}
	return nil
}
