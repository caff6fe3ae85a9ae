package agents

import (
	"context"
	"slices"
	"strings"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/llm/offline"
)

// expandedText is the second query of a question: the other-language names
// the city glossary gives for the terms it uses (黄灯 for "yellow light"), or
// "" when the glossary has none. Only retrieval sees them; the model is
// given the user's message unchanged, whichever model it is.
func expandedText(question string) string {
	extra := offline.QueryTerms(question)
	if len(extra) == 0 {
		return ""
	}
	return strings.Join(extra, " ")
}

// search asks one collection for the question's k best documents. When the
// glossary names the question's terms in the other language, a second
// search with those names may add documents written only in that language
// (mergeCrossLanguage); the question's own hits keep the passages they quote.
func (tr *turnRun) search(ctx context.Context, collection, question string, k int) ([]knowledge.Hit, error) {
	q := knowledge.Query{Collection: collection, Text: question, K: k, Clearance: tr.t.Principal.Clearance}
	hits, err := tr.r.Knowledge.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if q.Text = expandedText(question); q.Text == "" {
		return hits, nil
	}
	more, err := tr.r.Knowledge.Search(ctx, q)
	if err != nil {
		// The question's own hits answer; the expansion only adds.
		return hits, nil
	}
	return withExpandedPassages(mergeCrossLanguage(question, hits, more, k), more), nil
}

// withExpandedPassages adds to each hit the passage by which the
// glossary-expanded search found the same document, when it is another
// one: an English question meets a bilingual document's English summary,
// its Chinese names the rule itself ("how often … under a red warning" and
// 红色预警…每15分钟报送). The passage goes first among the hit's further
// ones, at most 2·MaxAlso of them, as a follow-up's does.
func withExpandedPassages(hits, more []knowledge.Hit) []knowledge.Hit {
	for i := range hits {
		for _, m := range more {
			if m.DocID != hits[i].DocID {
				continue
			}
			if m.ID == hits[i].ID {
				break
			}
			also := []knowledge.Chunk{m.Chunk}
			for _, c := range hits[i].Also {
				if c.ID != m.ID {
					also = append(also, c)
				}
			}
			hits[i].Also = also[:min(len(also), 2*knowledge.MaxAlso)]
			break
		}
	}
	return hits
}

// mergeExpanded adds to the hits of a question the best document of its
// glossary-expanded search that the question did not find: into a free
// place, or into the last place when the expanded search ranks it above the
// document there. Every other hit keeps its passage.
func mergeExpanded(hits, expanded []knowledge.Hit, k int) []knowledge.Hit {
	found := make(map[string]bool, len(hits))
	for _, h := range hits {
		found[h.DocID] = true
	}
	rank := func(doc string) int {
		for i, h := range expanded {
			if h.DocID == doc {
				return i
			}
		}
		return len(expanded)
	}
	for i, e := range expanded {
		if found[e.DocID] {
			continue
		}
		// It keeps the expanded search's score, never above the question's
		// own best, so that an agent reading several collections ranks it
		// among their hits.
		if len(hits) > 0 {
			e.Score = min(e.Score, hits[0].Score)
		}
		switch {
		case len(hits) < k:
			return append(hits, e)
		case k > 0 && i < rank(hits[k-1].DocID):
			return append(append([]knowledge.Hit(nil), hits[:k-1]...), e)
		}
		return hits
	}
	return hits
}

// maxCrossLanguage is how many documents of the glossary-expanded search
// may take the places of the question's own hits.
const maxCrossLanguage = 2

// mergeCrossLanguage is mergeExpanded when a place is free. When none is,
// the expanded search's new documents, best first and at most
// maxCrossLanguage of them, may each take the place of the question's
// weakest own hit that the expanded search does not rank above it (a hit
// both searches put first is confirmed, whatever its fused score): the first
// by rank as mergeExpanded has it, any of them by evidence — its passage
// names more of the question's glossary concepts, in either language, than
// the hit's does. A later one, ranked lower by the expanded search, also
// names no fewer of them than the one before it, or it would only add a
// rival passage to quote. An English question meets a Chinese-only rule by its
// concepts (信号灯 熄灭 交警 for "lights … gone dark … police") where its own
// search found English documents by generic words alone.
func mergeCrossLanguage(question string, hits, expanded []knowledge.Hit, k int) []knowledge.Hit {
	if k == 0 || len(hits) < k {
		return mergeExpanded(hits, expanded, k)
	}
	rank := func(doc string) int {
		for i, h := range expanded {
			if h.DocID == doc {
				return i
			}
		}
		return len(expanded)
	}
	asked := offline.Concepts(question)
	concepts := func(h knowledge.Hit) int {
		n := 0
		for _, g := range offline.Concepts(h.Title + " " + strings.Join(h.HeadingPath, " ") + " " + h.Text) {
			if slices.Contains(asked, g) {
				n++
			}
		}
		return n
	}
	own := make(map[string]bool, len(hits))
	for _, h := range hits {
		own[h.DocID] = true
	}
	out := slices.Clone(hits)
	added, before := 0, 0
	for i, e := range expanded {
		if added == maxCrossLanguage {
			break
		}
		if slices.ContainsFunc(out, func(h knowledge.Hit) bool { return h.DocID == e.DocID }) {
			continue
		}
		weak := -1
		for j := len(out) - 1; j >= 0; j-- {
			if own[out[j].DocID] && rank(out[j].DocID) > i {
				weak = j
				break
			}
		}
		if weak < 0 {
			continue
		}
		byRank := added == 0 && weak == len(out)-1
		n := concepts(e)
		if !byRank && n <= concepts(out[weak]) || added > 0 && n < before {
			continue
		}
		before = n
		// As in mergeExpanded, never scored above the question's best.
		e.Score = min(e.Score, hits[0].Score)
		out = append(append(out[:weak:weak], out[weak+1:]...), e)
		added++
	}
	return out
}
