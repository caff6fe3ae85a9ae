package demodocs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

func TestDocuments(t *testing.T) {
	docs, err := demodocs.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 40 {
		t.Fatalf("%d documents, want at least 40", len(docs))
	}
	collections := map[string]int{}
	clearances := map[access.Clearance]int{}
	langs := map[string]int{}
	for _, d := range docs {
		collections[d.Collection]++
		clearances[d.Clearance]++
		langs[d.Metadata["lang"]]++
		if d.Title == "" || d.Source == "" || d.Effective == nil || d.Metadata["department"] == "" {
			t.Errorf("%s lacks title, source, effective date or department", d.ID)
		}
		// 300–1500 words or Han characters.
		han, words := 0, 0
		for _, r := range d.Text {
			if unicode.Is(unicode.Han, r) {
				han++
			}
		}
		words = len(strings.FieldsFunc(d.Text, func(r rune) bool { return !unicode.IsLetter(r) || unicode.Is(unicode.Han, r) }))
		if n := han + words; n < 300 || n > 1500 {
			t.Errorf("%s has %d words and characters, want 300–1500", d.ID, n)
		}
	}
	for _, c := range []string{"traffic", "permits", "energy", "hotline", "city"} {
		if collections[c] == 0 {
			t.Errorf("no document in collection %s", c)
		}
	}
	if clearances[access.Internal] == 0 || clearances[access.Restricted] == 0 {
		t.Errorf("clearances %v: want internal and restricted documents", clearances)
	}
	if langs["zh"] == 0 || langs["en"] == 0 || langs["zh-en"] == 0 {
		t.Errorf("languages %v: want zh, en and bilingual documents", langs)
	}
}

func TestLoadIdempotent(t *testing.T) {
	s, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	docs, _ := demodocs.Documents()
	if n, err := demodocs.Load(ctx, b); err != nil || n != len(docs) {
		t.Fatalf("first load: %d, %v", n, err)
	}
	if n, err := demodocs.Load(ctx, b); err != nil || n != 0 {
		t.Fatalf("second load: %d, %v", n, err)
	}
	cols, err := b.Collections(ctx)
	if err != nil || len(cols) != 5 {
		t.Fatalf("collections %v, %v", cols, err)
	}
}

func TestParse(t *testing.T) {
	doc, err := demodocs.Parse([]byte("\uFEFF---\r\nid: a\r\ntitle: \"标题: 副标题\"\r\ncollection: c\r\nclearance: internal # comment\r\n" +
		"effective: 2025-01-02\r\nexpires: 2026-01-02T00:00:00Z\r\nmetadata:\r\n  lang: zh\r\n  district: '高新区'\r\n---\r\n\r\n# 正文\r\n\r\n内容。\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != "a" || doc.Title != "标题: 副标题" || doc.Collection != "c" || doc.Clearance != access.Internal ||
		doc.Metadata["lang"] != "zh" || doc.Metadata["district"] != "高新区" || doc.Text != "# 正文\n\n内容。" {
		t.Errorf("parsed %+v", doc)
	}
	if want := time.Date(2025, 1, 2, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !doc.Effective.Equal(want) {
		t.Errorf("effective %v, want %v", doc.Effective, want)
	}
	if doc.Expires == nil || doc.Expires.Year() != 2026 {
		t.Errorf("expires %v", doc.Expires)
	}

	for name, src := range map[string]string{
		"no front matter":     "# Title\n\ntext",
		"unclosed":            "---\nid: a\ncollection: c\n",
		"unknown key":         "---\nid: a\ncollection: c\nclearence: public\n---\ntext",
		"unknown clearance":   "---\nid: a\ncollection: c\nclearance: secret\n---\ntext",
		"repeated key":        "---\nid: a\nid: b\ncollection: c\n---\ntext",
		"no id":               "---\ncollection: c\n---\ntext",
		"bad date":            "---\nid: a\ncollection: c\neffective: 1 May\n---\ntext",
		"stray indent":        "---\nid: a\n  lang: zh\ncollection: c\n---\ntext",
		"no colon":            "---\nid a\ncollection: c\n---\ntext",
		"metadata with value": "---\nid: a\ncollection: c\nmetadata: x\n---\ntext",
	} {
		if _, err := demodocs.Parse([]byte(src)); !errors.Is(err, demodocs.ErrFrontMatter) {
			t.Errorf("%s: %v, want ErrFrontMatter", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("---\nid: a\ncollection: c\nmetadata:\n  k: v\n---\ntext"))
	f.Add([]byte("---\n---"))
	f.Add([]byte("---\nid: a\ncollection: c\n---"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := demodocs.Parse(data)
		if err == nil && (doc.ID == "" || doc.Collection == "") {
			t.Fatalf("parsed without id or collection: %+v", doc)
		}
	})
}
