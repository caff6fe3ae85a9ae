package hotline

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/store"
)

// personalRequest carries a caller and personal data in its text.
var personalRequest = CreateRequest{
	Text:     "我叫李四，电话13912345678，身份证310115198511110519。车牌京A12345的车天天堵在小区消防通道，请尽快处理。",
	Channel:  "phone",
	Location: &Location{Address: "幸福里小区3栋，联系人手机13700001111"},
	Caller:   &Caller{Name: "李四", Phone: "139 1234 5678", Email: "lisi@example.com", AccountID: "acct-20260301"},
}

var personalSecrets = []string{"13912345678", "139 1234 5678", "310115198511110519", "京A12345", "13700001111", "lisi@example.com", "李四", "acct-20260301"}

var sensitiveKey = access.Principal{KeyID: "key_sup", Role: access.RoleSupervisor, Clearance: access.Sensitive}

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, pii.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t *testing.T, keys ...[]byte) *pii.Keyring {
	t.Helper()
	r, err := pii.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withKeys is another service over the rig's store with the given ring.
func (r *rig) withKeys(t *testing.T, kr *pii.Keyring) *Service {
	t.Helper()
	svc, err := NewService(Config{Taxonomy: r.tax, Store: r.db, Triager: r.triager, Dispatcher: GovernedDispatcher{Gov: r.actions}, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func assertNoSecrets(t *testing.T, where string, b []byte) {
	t.Helper()
	for _, s := range personalSecrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q: %.300s", where, s, b)
		}
	}
}

func TestPersonalDataStoredApartAndRevealed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	k := newKey(t)
	svc := r.withKeys(t, ring(t, k))
	out, err := svc.Create(ctx, personalRequest, CreateOptions{Principal: hotlineKey, IdempotencyKey: "p-1", Scope: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tk := out.Ticket
	want := "我叫李*，电话139****5678，身份证3101**********0519。车牌京A***45的车天天堵在小区消防通道，请尽快处理。"
	if tk.Text != want || tk.Location.Address != "幸福里小区3栋，联系人手机137****1111" {
		t.Errorf("text %q, address %q", tk.Text, tk.Location.Address)
	}
	if tk.Caller.Phone != "139****5678" || tk.Caller.Name != "李*" || tk.Caller.Email != "l***@example.com" || tk.Caller.AccountID != "ac*********01" {
		t.Errorf("caller %+v", tk.Caller)
	}
	assertNoSecrets(t, "the answer", out.Raw)
	st, err := r.db.GetTicket(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"text": []byte(st.Text), "caller": st.Caller, "address": []byte(st.Address), "data": st.Data} {
		assertNoSecrets(t, "stored "+name, b)
	}
	idem, err := r.db.GetIdempotency(ctx, "v1:"+hotlineKey.KeyID, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "the idempotent response", idem.Response)
	// The triage turn's transcript and the dispatch proposal saw masked text.
	sess, err := r.db.GetSession(ctx, tk.Triage.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := json.Marshal(sess)
	assertNoSecrets(t, "the triage session", sb)
	if !bytes.Contains(sb, []byte("139****5678")) {
		t.Errorf("the triage session lacks the masked text: %.300s", sb)
	}
	p, err := r.actions.Get(ctx, tk.Dispatch.ProposalID, access.Principal{KeyID: "sup", Role: access.RoleSupervisor, Clearance: access.Restricted})
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(p)
	assertNoSecrets(t, "the dispatch proposal", pb)
	recs, err := r.db.AuditChain(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := json.Marshal(recs)
	assertNoSecrets(t, "the audit chain", rb)

	rows, err := r.db.PersonalData(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, row := range rows {
		fields = append(fields, row.Field)
		if row.KeyID != pii.KeyID(k) {
			t.Errorf("row %s sealed with %s", row.Field, row.KeyID)
		}
		assertNoSecrets(t, "ciphertext "+row.Field, []byte(row.Ciphertext))
	}
	if got := strings.Join(fields, ","); got != "caller.account_id,caller.email,caller.name,caller.phone,location.address,text" {
		t.Errorf("personal fields = %s", got)
	}

	// Below sensitive clearance nothing is revealed.
	for _, c := range []access.Clearance{access.Public, access.Internal} {
		if _, err := svc.Reveal(ctx, tk.ID, access.Principal{KeyID: "k", Role: access.RoleSupervisor, Clearance: c}); !errors.Is(err, ErrRevealForbidden) {
			t.Errorf("reveal with %s clearance: %v", c, err)
		}
	}
	rv, err := svc.Reveal(ctx, tk.ID, sensitiveKey)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Personal.Text != personalRequest.Text || rv.Personal.Address != personalRequest.Location.Address || *rv.Personal.Caller != *personalRequest.Caller {
		t.Errorf("revealed %+v", rv.Personal)
	}
	if rv.Text != want || rv.Caller.Phone != "139****5678" {
		t.Errorf("the revealed ticket's own fields are not masked: %q %+v", rv.Text, rv.Caller)
	}
	recs, _ = r.db.AuditChain(ctx, 0, 1000)
	last := recs[len(recs)-1]
	if last.Kind != KindPersonalReveal || last.Subject != tk.ID || last.Actor != sensitiveKey.KeyID {
		t.Fatalf("last audit record = %s %s by %s", last.Kind, last.Subject, last.Actor)
	}
	assertNoSecrets(t, "the reveal's audit record", last.Payload)
	if !bytes.Contains(last.Payload, []byte("caller.phone")) {
		t.Errorf("reveal payload %s", last.Payload)
	}
}

func TestKeyRotationReseals(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noDispatch: true})
	ctx := context.Background()
	oldKey, newKey := newKey(t), newKey(t)
	out, err := r.withKeys(t, ring(t, oldKey)).Create(ctx, personalRequest, CreateOptions{Principal: hotlineKey})
	if err != nil {
		t.Fatal(err)
	}
	// A server holding only the new key cannot open the old data ...
	rep, err := r.withKeys(t, ring(t, newKey)).MaintainPersonal(ctx)
	if err != nil || rep.Resealed != 0 || len(rep.Unknown) != 1 || rep.Unknown[0] != pii.KeyID(oldKey) {
		t.Fatalf("maintain without the old key = %+v, %v", rep, err)
	}
	// ... one holding both re-seals it under the new key,
	rep, err = r.withKeys(t, ring(t, newKey, oldKey)).MaintainPersonal(ctx)
	if err != nil || rep.Resealed != 6 || rep.KeyIDs[pii.KeyID(newKey)] != 6 || len(rep.Unknown) != 0 {
		t.Fatalf("rotation = %+v, %v", rep, err)
	}
	// ... after which the old key can go.
	rv, err := r.withKeys(t, ring(t, newKey)).Reveal(ctx, out.Ticket.ID, sensitiveKey)
	if err != nil || rv.Personal.Text != personalRequest.Text || len(rv.Personal.KeyIDs) != 1 || rv.Personal.KeyIDs[0] != pii.KeyID(newKey) {
		t.Fatalf("reveal after rotation = %+v, %v", rv.Personal, err)
	}
	if _, err := r.withKeys(t, ring(t, oldKey)).Reveal(ctx, out.Ticket.ID, sensitiveKey); !errors.Is(err, ErrPersonalKey) {
		t.Errorf("the old key still opens re-sealed data: %v", err)
	}
}

// TestMaintainPersonalMasksOldTickets: a ticket stored in the clear (as
// before migration 0009) is masked in place, its originals sealed.
func TestMaintainPersonalMasksOldTickets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	caller, _ := json.Marshal(personalRequest.Caller)
	view, _ := json.Marshal(Ticket{ID: "tkt_old", Token: "tok_old", Status: StatusTriaged, Text: personalRequest.Text, Caller: personalRequest.Caller.mask(),
		DraftReply: "已收到，我们将致电13912345678。", Location: personalRequest.Location, Warnings: []string{}})
	now := time.Now()
	rec, _, err := db.ClaimIdempotency(ctx, store.Idempotency{Scope: "v1:k", Key: "old", RequestHash: "h", CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	err = db.CreateTicket(ctx, store.Ticket{ID: "tkt_old", Token: "tok_old", Status: StatusTriaged, Text: personalRequest.Text, Caller: caller,
		Address: personalRequest.Location.Address, Data: view, CreatedAt: now}, &store.IdempotencyRef{Scope: rec.Scope, Key: rec.Key})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteIdempotency(ctx, store.IdempotencyResponse{Scope: rec.Scope, Key: rec.Key, Status: 201, Response: view}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, "INSERT INTO personal_backfill (ticket_id) VALUES ('tkt_old'), ('tkt_gone')"); err != nil {
		t.Fatal(err)
	}

	svc, err := NewService(Config{Taxonomy: DefaultTaxonomy(), Store: db, Keyring: ring(t, newKey(t))})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.MaintainPersonal(ctx)
	if err != nil || rep.Masked != 1 {
		t.Fatalf("maintain = %+v, %v", rep, err)
	}
	if again, err := svc.MaintainPersonal(ctx); err != nil || again.Masked != 0 {
		t.Fatalf("second run = %+v, %v", again, err)
	}
	st, err := db.GetTicket(ctx, "tkt_old")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"text": []byte(st.Text), "caller": st.Caller, "address": []byte(st.Address), "data": st.Data} {
		assertNoSecrets(t, "masked "+name, b)
	}
	if !strings.Contains(string(st.Data), "139****5678") || !strings.Contains(string(st.Caller), `"李*"`) {
		t.Errorf("masked data %s, caller %s", st.Data, st.Caller)
	}
	idem, _ := db.GetIdempotency(ctx, rec.Scope, rec.Key)
	if bytes.Contains(idem.Response, []byte("13912345678")) || !bytes.Contains(idem.Response, []byte("139****5678")) {
		t.Errorf("stored response %s", idem.Response)
	}
	rv, err := svc.Reveal(ctx, "tkt_old", sensitiveKey)
	if err != nil || rv.Personal.Text != personalRequest.Text || *rv.Personal.Caller != *personalRequest.Caller || rv.Personal.Address != personalRequest.Location.Address {
		t.Fatalf("reveal of a masked old ticket = %+v, %v", rv.Personal, err)
	}
	recs, _ := db.AuditChain(ctx, 0, 100)
	if len(recs) == 0 || recs[0].Kind != KindPersonalMasked || recs[0].Subject != "tkt_old" {
		t.Errorf("audit = %+v", recs)
	}
}
