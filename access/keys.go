package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// KeyPrefix starts every API key so that leaked keys are easy to grep for.
const KeyPrefix = "ca_"

// NewKeySecret returns a fresh random API key (shown once, never stored).
func NewKeySecret() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("access: crypto/rand failed: " + err.Error())
	}
	return KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// HashKey is how a key is stored: SHA-256 hex of the secret. Keys carry 160
// random bits, so a fast hash is enough (no password stretching needed).
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// KeyID returns a short, non-secret identifier of a key secret for lists and logs.
func KeyID(secret string) string { return "key_" + HashKey(secret)[:12] }
