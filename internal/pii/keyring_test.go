package pii

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringSealOpen(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	ring, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("tkt_1\x00caller.phone")
	ct, id, err := ring.Seal(aad, []byte("13812345678"))
	if err != nil {
		t.Fatal(err)
	}
	if id != KeyID(k1) || strings.Contains(ct, "13812345678") {
		t.Fatalf("key id %s, ciphertext %s", id, ct)
	}
	ct2, _, _ := ring.Seal(aad, []byte("13812345678"))
	if ct2 == ct {
		t.Error("two seals of one plaintext are equal: the nonce is not random")
	}
	got, err := ring.Open(id, aad, ct)
	if err != nil || string(got) != "13812345678" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Another record's additional data does not open it.
	if _, err := ring.Open(id, []byte("tkt_2\x00caller.phone"), ct); !errors.Is(err, ErrDecrypt) {
		t.Errorf("open with another ticket's aad: %v, want ErrDecrypt", err)
	}
	// Tampered ciphertext fails.
	raw, _ := base64.StdEncoding.DecodeString(ct)
	raw[len(raw)-1] ^= 1
	if _, err := ring.Open(id, aad, base64.StdEncoding.EncodeToString(raw)); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v, want ErrDecrypt", err)
	}
	if _, err := ring.Open(id, aad, "not base64!"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("malformed: %v, want ErrDecrypt", err)
	}
	// A ring with another key fails closed and names the key id.
	other, _ := NewKeyring(k2)
	if _, err := other.Open(id, aad, ct); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), id) {
		t.Errorf("wrong ring: %v, want ErrUnknownKey naming %s", err, id)
	}
	// After a rotation the old key still opens old data; new data uses the new key.
	rotated, err := NewKeyring(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(id, aad, ct); err != nil || string(got) != "13812345678" {
		t.Errorf("rotated ring: %q, %v", got, err)
	}
	if _, nid, _ := rotated.Seal(aad, []byte("x")); nid != KeyID(k2) || nid == id {
		t.Errorf("rotated ring seals under %s", nid)
	}
}

func TestKeyringRejectsBadKeys(t *testing.T) {
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	for _, s := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 31)), "!!!!"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
	k := randomKey(t)
	for _, s := range []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k) + "\n"} {
		if got, err := ParseKey(s); err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %v", s, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "personal.key")
	k, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k) != KeySize {
		t.Fatalf("first: %v %v %d", err, created, len(k))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k, k2) {
		t.Fatalf("second: %v %v", err, created)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a bad key file: %v", err)
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("caller", "13812345678")
	log.Info("call 13912345678 back", "err", errors.New("id 310115198511110519 rejected"), "who", stringer{"zs@example.com"},
		slog.Group("g", "plate", "京A12345"), "n", 13812345678, "ticket", "tkt_13812345678abcd")
	out := buf.String()
	for _, leak := range []string{"13812345678\"", "13912345678", "310115198511110519", "zs@example.com", "京A12345"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line holds %s: %s", leak, out)
		}
	}
	for _, want := range []string{"139****5678", "3101**********0519", "z***@example.com", "京A***45", "tkt_13812345678abcd", `"n":13812345678`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
}
