// Package audit defines cityagent's tamper-evident audit log: the records of
// an append-only hash chain, how each record's hash is computed, the Auditor
// interface every component appends through, and Verify, which walks a stored
// chain and names the first record that was edited, deleted, inserted or
// moved.
//
// A record's hash covers its seq, time, actor, kind, subject, the SHA-256 of
// its payload and the previous record's hash, so changing any of them, or
// the order of records, breaks the chain from that record on. The store
// keeps the head (last seq and hash) beside the chain, written in the same
// transaction as each append, so that a deleted last record shows as well.
// A hash chain proves order and integrity against edits that do not rewrite
// every later hash; anchor the head elsewhere (Report.Head, `cityagent audit
// verify --anchor`) to detect a rewrite of the whole tail.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Record is one stored entry of the chain.
type Record struct {
	Seq         int64           `json:"seq"`
	At          time.Time       `json:"time"`
	Actor       string          `json:"actor"`   // key id, "system", "cli", …
	Kind        string          `json:"kind"`    // one of the Kind constants
	Subject     string          `json:"subject"` // what it is about: a session, proposal, key or tool id
	Payload     json.RawMessage `json:"payload"`
	PayloadHash string          `json:"payload_hash"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

// Entry is what a component appends; the store assigns seq and the hashes.
type Entry struct {
	Actor   string
	Kind    string
	Subject string
	Payload any       // marshalled to JSON; nil is {}
	At      time.Time // zero: the time of the append
}

// Kinds of records. Components may add their own in the same "noun.verb" form.
const (
	KindChatTurn        = "chat.turn"
	KindToolCall        = "tool.call"
	KindToolRefused     = "tool.refused" // a call the agent was not offered (e.g. injected)
	KindToolRegister    = "tool.register"
	KindToolRemove      = "tool.remove"
	KindKeyCreate       = "key.create"
	KindKeyRevoke       = "key.revoke"
	KindProposalCreate  = "proposal.create"
	KindProposalRefused = "proposal.refused" // a proposal the runner would not make (bad arguments, unlisted action)
	KindApprove         = "proposal.approve"
	KindReject          = "proposal.reject"
	KindDecisionRefused = "proposal.decision_refused" // approve/reject refused: role, proposer, state, expiry
	KindExpire          = "proposal.expire"
	KindExecute         = "proposal.execute"
	KindExecuteFailed   = "proposal.execute_failed"
)

// Genesis is the prev_hash of the first record.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Auditor appends entries to the audit log, in order, all or none. It is
// what the server, the agent runner and the action service call; *store.DB
// implements it.
type Auditor interface {
	Audit(ctx context.Context, entries ...Entry) error
}

// Discard is an Auditor that keeps nothing, for tools and tests that run
// without a state store.
var Discard Auditor = discard{}

type discard struct{}

func (discard) Audit(context.Context, ...Entry) error { return nil }

// EncodePayload is the JSON a payload is stored and hashed as.
func EncodePayload(p any) (json.RawMessage, error) {
	switch v := p.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, errors.New("audit: payload is not JSON")
		}
		return v, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("audit: encode payload: %w", err)
	}
	return b, nil
}

// PayloadHash is the hex SHA-256 of a stored payload.
func PayloadHash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// ChainHash is a record's hash: SHA-256 of the JSON array [seq, time in Unix
// nanoseconds, actor, kind, subject, payload_hash, prev_hash].
func ChainHash(r Record) string {
	b, _ := json.Marshal([]any{r.Seq, r.At.UnixNano(), r.Actor, r.Kind, r.Subject, r.PayloadHash, r.PrevHash})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal fills a record's PayloadHash, PrevHash and Hash for appending after prev.
func Seal(r *Record, prevHash string) {
	r.PayloadHash = PayloadHash(r.Payload)
	r.PrevHash = prevHash
	r.Hash = ChainHash(*r)
}

// Source is what Verify reads: the chain in seq order and its head.
type Source interface {
	// AuditChain returns up to limit records with seq > after, by seq ascending.
	AuditChain(ctx context.Context, after int64, limit int) ([]Record, error)
	// AuditHead returns the head written with the last append.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// Head is the last record of a chain.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Report is the outcome of Verify.
type Report struct {
	OK      bool  `json:"ok"`
	Records int64 `json:"records"` // records read
	Head    Head  `json:"head"`    // the last record that verified
	// FirstBadSeq is the first seq that does not verify (0 when OK).
	FirstBadSeq int64  `json:"first_bad_seq,omitempty"`
	Problem     string `json:"problem,omitempty"`
}

// Anchor is a head recorded elsewhere earlier; Verify checks that the chain
// still holds that record with that hash.
type Anchor = Head

// ParseAnchor reads "SEQ:HASH".
func ParseAnchor(s string) (Anchor, error) {
	seqText, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	var a Anchor
	if _, err := fmt.Sscan(seqText, &a.Seq); !ok || err != nil || a.Seq < 1 || len(hash) != 64 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want SEQ:HASH (a seq and a 64-digit hex hash)", s)
	}
	a.Hash = strings.ToLower(hash)
	return a, nil
}

const verifyPage = 1000

// Verify walks the chain from seq 1 and reports the first record that does
// not verify: a gap (a deleted record), a record whose payload, fields, link
// or position was changed, records beyond the stored head (inserted) or a
// head beyond the last record (the tail deleted). anchors, if any, must
// still be in the chain with the same hash. err is only for failing to read.
func Verify(ctx context.Context, src Source, anchors ...Anchor) (Report, error) {
	rep := Report{Head: Head{Hash: Genesis}}
	bad := func(seq int64, format string, args ...any) (Report, error) {
		rep.OK, rep.FirstBadSeq, rep.Problem = false, seq, fmt.Sprintf(format, args...)
		return rep, nil
	}
	headSeq, headHash, err := src.AuditHead(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: read head: %w", err)
	}
	want := map[int64]string{}
	for _, a := range anchors {
		want[a.Seq] = a.Hash
	}
	prev := Genesis
	var last int64
	for {
		page, err := src.AuditChain(ctx, last, verifyPage)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: read records after %d: %w", last, err)
		}
		for _, r := range page {
			expect := last + 1
			switch {
			case r.Seq != expect:
				return bad(expect, "record %d is missing (the next stored record is %d)", expect, r.Seq)
			case r.Seq > headSeq:
				return bad(r.Seq, "record %d is beyond the chain's head %d: inserted", r.Seq, headSeq)
			case PayloadHash(r.Payload) != r.PayloadHash:
				return bad(r.Seq, "record %d: payload does not match its payload_hash: edited", r.Seq)
			case r.PrevHash != prev:
				return bad(r.Seq, "record %d: prev_hash does not link to record %d: edited, inserted or moved", r.Seq, r.Seq-1)
			case ChainHash(r) != r.Hash:
				return bad(r.Seq, "record %d: hash does not match its fields: edited or moved", r.Seq)
			}
			if h, ok := want[r.Seq]; ok && h != r.Hash {
				return bad(r.Seq, "record %d: hash differs from the anchor %s: the chain was rewritten", r.Seq, h)
			}
			delete(want, r.Seq)
			prev, last = r.Hash, r.Seq
			rep.Records++
			rep.Head = Head{Seq: r.Seq, Hash: r.Hash}
		}
		if len(page) < verifyPage {
			break
		}
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
	}
	switch {
	case last < headSeq:
		return bad(last+1, "record %d is missing: the chain ends at %d but its head is %d", last+1, last, headSeq)
	case headSeq > 0 && headHash != prev:
		return bad(last, "record %d: hash differs from the chain's head: edited", last)
	}
	if len(want) > 0 {
		var first int64
		for seq := range want {
			if first == 0 || seq < first {
				first = seq
			}
		}
		return bad(first, "anchored record %d is missing", first)
	}
	rep.OK = true
	return rep, nil
}
