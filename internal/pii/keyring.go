package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a personal-data key: AES-256.
const KeySize = 32

// Errors of the key ring. Both fail closed: nothing is returned but the
// error, never undecrypted or partly decrypted data.
var (
	// ErrUnknownKey: the data was sealed with a key this ring does not hold.
	ErrUnknownKey = errors.New("pii: personal data was encrypted with a key this server does not have")
	// ErrDecrypt: the ciphertext does not open under its key (wrong key
	// with the same id, tampered data, or data moved to another record).
	ErrDecrypt = errors.New("pii: personal data does not decrypt")
)

// Keyring seals personal data under its current key and opens it under
// any key it holds, found by the key id stored beside the ciphertext. Old
// keys stay in the ring after a rotation until their data is re-sealed.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a ring whose current key is current; old keys only
// open data sealed before a rotation.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("pii: a personal-data key must be %d bytes, got %d", KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("pii: personal-data key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("pii: personal-data key: %w", err)
		}
		id := KeyID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// KeyID names a key without revealing it: a hash of the key under a
// fixed label, 12 hex digits.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("cityagent personal-data key id\x00"), key...))
	return "pdk_" + hex.EncodeToString(sum[:6])
}

// CurrentKeyID is the id of the key Seal uses.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Has reports whether the ring holds the key with id.
func (k *Keyring) Has(id string) bool { _, ok := k.aeads[id]; return ok }

// Seal encrypts plaintext under the current key with a random nonce,
// binding it to aad (the record it belongs to). The ciphertext is
// base64 of nonce ‖ sealed data.
func (k *Keyring) Seal(aad, plaintext []byte) (ciphertext, keyID string, err error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", "", fmt.Errorf("pii: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, aad)
	return base64.StdEncoding.EncodeToString(out), k.current, nil
}

// Open decrypts what Seal returned under keyID, checking aad.
func (k *Keyring) Open(keyID string, aad []byte, ciphertext string) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w (key id %s; this server has %s)", ErrUnknownKey, keyID, strings.Join(k.ids(), ", "))
	}
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: the ciphertext is malformed", ErrDecrypt)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w under key id %s", ErrDecrypt, keyID)
	}
	return plain, nil
}

func (k *Keyring) ids() []string {
	out := []string{k.current}
	for id := range k.aeads {
		if id != k.current {
			out = append(out, id)
		}
	}
	return out
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not)
// key of KeySize bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("pii: a personal-data key must be %d bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("pii: a personal-data key must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")
}

// LoadOrCreateKeyFile reads the base64 key in path, or, when the file
// does not exist, generates a random key and writes it there with mode
// 0600. created reports the latter.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("pii: read personal-data key: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("pii: generate personal-data key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("pii: write personal-data key: %w", err)
	}
	// O_EXCL: of two processes starting on one data dir, one key wins.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKeyFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("pii: write personal-data key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("pii: write personal-data key: %w", werr)
	}
	return key, true, nil
}
