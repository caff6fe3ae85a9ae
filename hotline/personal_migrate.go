package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/store"
)

// personalMaintainer is the part of the state store that masks tickets
// stored in the clear and re-seals personal data; *store.DB implements it.
type personalMaintainer interface {
	PendingPersonalBackfill(ctx context.Context, limit int) ([]string, error)
	TicketResponses(ctx context.Context, ticketID string) ([]store.IdempotencyResponse, error)
	MaskTicketInPlace(ctx context.Context, m store.PersonalMasking, audits ...audit.Entry) (bool, error)
	DropPersonalBackfill(ctx context.Context, ticketID string) error
	PersonalKeyIDs(ctx context.Context) (map[string]int, error)
	PersonalUnderKey(ctx context.Context, keyID string, limit int) ([]store.PersonalDatum, error)
	ResealPersonal(ctx context.Context, p store.PersonalDatum, fromKeyID string, audits ...audit.Entry) (bool, error)
}

var _ personalMaintainer = (*store.DB)(nil)

// personalBatch is how many tickets or rows one round of maintenance reads.
const personalBatch = 100

// PersonalReport is what MaintainPersonal did.
type PersonalReport struct {
	Masked   int            `json:"masked"`   // tickets stored in the clear, masked in place
	Resealed int            `json:"resealed"` // rows re-sealed under the current key
	KeyIDs   map[string]int `json:"key_ids"`  // rows by key after the run
	Unknown  []string       `json:"unknown"`  // key ids this server cannot open
}

// MaintainPersonal brings stored personal data in line with this server:
// tickets stored before personal data was kept apart are masked in place
// (their originals sealed), rows sealed with an old key are re-sealed
// under the current one, and key ids the ring lacks are reported (their
// data cannot be revealed until the key is configured again). Run it at
// start-up, before serving.
func (s *Service) MaintainPersonal(ctx context.Context) (PersonalReport, error) {
	var r PersonalReport
	pm, ok := s.store.(personalMaintainer)
	if !ok {
		return r, nil
	}
	for {
		ids, err := pm.PendingPersonalBackfill(ctx, personalBatch)
		if err != nil {
			return r, err
		}
		for _, id := range ids {
			done, err := s.maskInPlace(ctx, pm, id)
			if err != nil {
				return r, err
			}
			if done {
				r.Masked++
			}
		}
		if len(ids) < personalBatch {
			break
		}
	}
	n, err := s.reseal(ctx, pm)
	r.Resealed = n
	if err != nil {
		return r, err
	}
	if r.KeyIDs, err = pm.PersonalKeyIDs(ctx); err != nil {
		return r, err
	}
	r.Unknown = []string{}
	for id := range r.KeyIDs {
		if !s.keys.Has(id) {
			r.Unknown = append(r.Unknown, id)
		}
	}
	return r, nil
}

// maskInPlace masks one ticket stored in the clear.
func (s *Service) maskInPlace(ctx context.Context, pm personalMaintainer, id string) (bool, error) {
	st, err := s.store.GetTicket(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, pm.DropPersonalBackfill(ctx, id)
	}
	if err != nil {
		return false, err
	}
	var caller *Caller
	if len(st.Caller) > 0 && string(st.Caller) != "{}" {
		caller = &Caller{}
		if err := json.Unmarshal(st.Caller, caller); err != nil {
			return false, fmt.Errorf("hotline: ticket %s: stored caller: %w", id, err)
		}
	}
	orig := caller.fields()
	m := store.PersonalMasking{TicketID: id, Text: pii.Mask(st.Text), Address: pii.Mask(st.Address), Caller: "{}"}
	if m.Text != st.Text {
		orig[FieldText] = st.Text
	}
	if m.Address != st.Address {
		orig[FieldAddress] = st.Address
	}
	if caller != nil {
		b, _ := json.Marshal(caller.mask())
		m.Caller = string(b)
	}
	m.Data, _ = maskJSON(st.Data)
	resps, err := pm.TicketResponses(ctx, id)
	if err != nil {
		return false, err
	}
	for _, resp := range resps {
		if masked, changed := maskJSON(resp.Response); changed {
			resp.Response = masked
			m.Responses = append(m.Responses, resp)
		}
	}
	now := s.now().UTC()
	if m.Personal, err = s.seal(id, orig, now); err != nil {
		return false, err
	}
	fields := make([]string, 0, len(m.Personal))
	for _, p := range m.Personal {
		fields = append(fields, p.Field)
	}
	entry := audit.Entry{Actor: "system:personal-data", Kind: KindPersonalMasked, Subject: id, At: now,
		Payload: map[string]any{"fields": fields, "key_id": s.keys.CurrentKeyID(), "responses": len(m.Responses)}}
	return pm.MaskTicketInPlace(ctx, m, entry)
}

// reseal re-seals rows sealed with another key the ring holds.
func (s *Service) reseal(ctx context.Context, pm personalMaintainer) (int, error) {
	ids, err := pm.PersonalKeyIDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for kid := range ids {
		if kid == s.keys.CurrentKeyID() || !s.keys.Has(kid) {
			continue
		}
		for {
			rows, err := pm.PersonalUnderKey(ctx, kid, personalBatch)
			if err != nil {
				return n, err
			}
			for _, r := range rows {
				aad := personalAAD(r.TicketID, r.Field)
				plain, err := s.keys.Open(r.KeyID, aad, r.Ciphertext)
				if err != nil {
					return n, fmt.Errorf("%w: ticket %s, field %s: %w", ErrPersonalKey, r.TicketID, r.Field, err)
				}
				ct, nid, err := s.keys.Seal(aad, plain)
				if err != nil {
					return n, err
				}
				entry := audit.Entry{Actor: "system:personal-data", Kind: KindPersonalReseal, Subject: r.TicketID, At: s.now().UTC(),
					Payload: map[string]any{"field": r.Field, "from_key_id": kid, "key_id": nid}}
				done, err := pm.ResealPersonal(ctx, store.PersonalDatum{TicketID: r.TicketID, Field: r.Field, Ciphertext: ct, KeyID: nid}, kid, entry)
				if err != nil {
					return n, err
				}
				if done {
					n++
				}
			}
			if len(rows) < personalBatch {
				break
			}
		}
	}
	return n, nil
}
