package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// memChain is a Source over records held in memory, sealed as a store
// seals them.
type memChain struct {
	recs     []Record
	headSeq  int64
	headHash string
}

var _ Source = (*memChain)(nil)

func newChain(n int) *memChain {
	c := &memChain{headHash: Genesis}
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range n {
		payload, _ := EncodePayload(map[string]any{"i": i, "问题": "拥堵"})
		r := Record{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * time.Second), Actor: "key_a", Kind: KindToolCall, Subject: fmt.Sprint("s", i), Payload: payload}
		Seal(&r, c.headHash)
		c.recs = append(c.recs, r)
		c.headSeq, c.headHash = r.Seq, r.Hash
	}
	return c
}

func (c *memChain) AuditChain(_ context.Context, after int64, limit int) ([]Record, error) {
	var out []Record
	for _, r := range c.recs {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *memChain) AuditHead(context.Context) (int64, string, error) {
	return c.headSeq, c.headHash, nil
}

func TestVerify(t *testing.T) {
	cases := map[string]struct {
		n       int
		tamper  func(c *memChain)
		anchors []Anchor
		wantBad int64
	}{
		"empty":             {0, nil, nil, 0},
		"untouched":         {2500, nil, nil, 0}, // more than one page
		"edited payload":    {5, func(c *memChain) { c.recs[2].Payload = json.RawMessage(`{"i":99}`) }, nil, 3},
		"edited subject":    {5, func(c *memChain) { c.recs[3].Subject = "other" }, nil, 4},
		"deleted":           {5, func(c *memChain) { c.recs = append(c.recs[:1], c.recs[2:]...) }, nil, 2},
		"deleted last":      {5, func(c *memChain) { c.recs = c.recs[:4] }, nil, 5},
		"head edited":       {5, func(c *memChain) { c.headHash = strings.Repeat("1", 64) }, nil, 5},
		"moved":             {5, func(c *memChain) { c.recs[1].Seq, c.recs[2].Seq = 3, 2; c.recs[1], c.recs[2] = c.recs[2], c.recs[1] }, nil, 2},
		"rewritten tail":    {5, rewriteFrom(2), []Anchor{{Seq: 4, Hash: newChain(5).recs[3].Hash}}, 4},
		"anchor holds":      {5, nil, []Anchor{{Seq: 4, Hash: newChain(5).recs[3].Hash}}, 0},
		"anchor past chain": {3, nil, []Anchor{{Seq: 9, Hash: strings.Repeat("a", 64)}}, 9},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ch := newChain(c.n)
			if c.tamper != nil {
				c.tamper(ch)
			}
			rep, err := Verify(t.Context(), ch, c.anchors...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != (c.wantBad == 0) || rep.FirstBadSeq != c.wantBad {
				t.Fatalf("Verify = %+v; want first bad seq %d", rep, c.wantBad)
			}
			if rep.OK && (rep.Records != int64(c.n) || rep.Head.Seq != int64(c.n)) {
				t.Errorf("report %+v for %d records", rep, c.n)
			}
		})
	}
}

// rewriteFrom edits record seq and recomputes every later hash and the
// head: only an anchor taken earlier shows it.
func rewriteFrom(seq int) func(c *memChain) {
	return func(c *memChain) {
		prev := Genesis
		for i := range c.recs {
			if i >= seq-1 {
				if i == seq-1 {
					c.recs[i].Actor = "mallory"
				}
				Seal(&c.recs[i], prev)
			}
			prev = c.recs[i].Hash
		}
		c.headHash = prev
	}
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	cases := map[string]struct {
		in string
		ok bool
	}{
		"good":       {"12:" + h, true},
		"upper":      {"12:" + strings.ToUpper(h), true},
		"no seq":     {":" + h, false},
		"zero":       {"0:" + h, false},
		"short hash": {"12:abcd", false},
		"no colon":   {"12", false},
		"words":      {"twelve:" + h, false},
	}
	for name, c := range cases {
		a, err := ParseAnchor(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%s: ParseAnchor(%q) = %+v, %v", name, c.in, a, err)
		}
		if c.ok && (a.Seq != 12 || a.Hash != h) {
			t.Errorf("%s: %+v", name, a)
		}
	}
}

func TestChainHashCoversEveryField(t *testing.T) {
	base := Record{Seq: 7, At: time.Unix(0, 123), Actor: "a", Kind: "k", Subject: "s", PayloadHash: PayloadHash([]byte("{}")), PrevHash: Genesis}
	h := ChainHash(base)
	edits := map[string]func(r *Record){
		"seq":          func(r *Record) { r.Seq++ },
		"time":         func(r *Record) { r.At = r.At.Add(1) },
		"actor":        func(r *Record) { r.Actor = "b" },
		"kind":         func(r *Record) { r.Kind = "x" },
		"subject":      func(r *Record) { r.Subject = "t" },
		"payload hash": func(r *Record) { r.PayloadHash = PayloadHash([]byte("[]")) },
		"prev hash":    func(r *Record) { r.PrevHash = strings.Repeat("1", 64) },
		"shifted text": func(r *Record) { r.Actor, r.Kind = "ak", "" }, // no field separator ambiguity
	}
	for name, edit := range edits {
		r := base
		edit(&r)
		if ChainHash(r) == h {
			t.Errorf("changing the %s keeps the hash", name)
		}
	}
	if _, err := EncodePayload(json.RawMessage(`{`)); err == nil {
		t.Error("invalid raw JSON payload accepted")
	}
	if p, _ := EncodePayload(nil); string(p) != "{}" {
		t.Errorf("nil payload = %s", p)
	}
}
