package evals

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar is a Progress for a terminal: a redrawn bar when w is a TTY, else a
// plain line at every tenth of the run (so CI logs stay short).
type Bar struct {
	w       io.Writer
	tty     bool
	total   int
	done    int
	bad     int
	na      int
	start   time.Time
	lastPct int
}

var _ Progress = (*Bar)(nil)

// NewBar returns a progress bar writing to w; it redraws in place only when
// w is a terminal.
func NewBar(w io.Writer) *Bar { return &Bar{w: w, tty: IsTerminal(w)} }

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Start begins a run of total cases.
func (b *Bar) Start(total int) {
	b.total, b.start, b.lastPct = total, time.Now(), -1
	if !b.tty {
		fmt.Fprintf(b.w, "eval: %d cases\n", total)
	}
}

// Done records one finished case.
func (b *Bar) Done(r *CaseResult) {
	b.done++
	switch r.Status {
	case StatusFail, StatusError, StatusTimeout:
		b.bad++
	case StatusNotApplicable:
		b.na++
	}
	if b.tty {
		const width = 30
		filled := 0
		if b.total > 0 {
			filled = b.done * width / b.total
		}
		bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
		fmt.Fprintf(b.w, "\r\033[K%s %d/%d  not passed %d  n/a %d  %s", bar, b.done, b.total, b.bad, b.na, oneLine(r.Key(), 40))
		return
	}
	pct := 100
	if b.total > 0 {
		pct = b.done * 100 / b.total
	}
	if pct/10 != b.lastPct/10 || b.done == b.total {
		b.lastPct = pct
		fmt.Fprintf(b.w, "eval: %d/%d done (%d%%), %d not passed, %d not applicable\n", b.done, b.total, pct, b.bad, b.na)
	}
}

// Finish ends the bar.
func (b *Bar) Finish() {
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%d cases in %.1fs, %d not passed, %d not applicable\n", b.done, time.Since(b.start).Seconds(), b.bad, b.na)
	}
}
