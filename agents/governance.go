package agents

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/cityagent/cityagent/access"
)

// AnswerData is the payload of EventAnswer: the final text and the highest
// clearance of what the turn read, so that history replays it only to
// callers cleared for it.
type AnswerData struct {
	Text      string           `json:"text"`
	Clearance access.Clearance `json:"clearance,omitempty"`
}

// remoteImage is a Markdown image that a client would fetch by itself: the
// classic way injected text smuggles data out in a URL.
var remoteImage = regexp.MustCompile(`!\[[^\]\n]*\]\(\s*<?(?i:https?:)?//[^)\n]*\)`)

// sanitizeAnswer removes remote Markdown images from an answer and
// neutralises the rest of the image syntax; n counts images removed.
func sanitizeAnswer(s string) (string, int) {
	n := 0
	s = remoteImage.ReplaceAllStringFunc(s, func(string) string {
		n++
		return "[image removed]"
	})
	return defangImages(s), n
}

// defangImages turns "![…](…)" into a plain link, which nothing loads
// without a click. Streamed deltas go through it as they are sent.
func defangImages(s string) string {
	if !strings.Contains(s, "![") {
		return s
	}
	return strings.ReplaceAll(s, "![", "[")
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
