package knowledge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cityagent/cityagent/knowledge"
)

// chineseText has short sentences ending in each Chinese sentence mark.
func chineseText(n int) (string, []string) {
	marks := []string{"。", "！", "？", "；"}
	var sentences []string
	for i := range n {
		sentences = append(sentences, fmt.Sprintf("第%d句话说明信号配时的要求%s", i, marks[i%len(marks)]))
	}
	return strings.Join(sentences, ""), sentences
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func TestChunkerChineseSentences(t *testing.T) {
	text, sentences := chineseText(40)
	pieces := knowledge.Chunker{Size: 60, Overlap: 20}.Split(text)
	if len(pieces) < 10 {
		t.Fatalf("%d pieces for %d runes", len(pieces), runes(text))
	}
	for _, p := range pieces {
		if runes(p.Text) > 60 {
			t.Errorf("piece of %d runes: %q", runes(p.Text), p.Text)
		}
		last, _ := utf8.DecodeLastRuneInString(p.Text)
		if !strings.ContainsRune("。！？；", last) {
			t.Errorf("piece cut inside a sentence: %q", p.Text)
		}
	}
	for _, s := range sentences {
		if !slices.ContainsFunc(pieces, func(p knowledge.Piece) bool { return strings.Contains(p.Text, s) }) {
			t.Errorf("sentence %q is in no piece whole", s)
		}
	}
}

func TestChunkerEnglishSentences(t *testing.T) {
	var sb strings.Builder
	for i := range 30 {
		fmt.Fprintf(&sb, "Rule %d applies when the index is above 2.0 for 15 minutes! Is rule %d optional? No. ", i, i)
	}
	pieces := knowledge.Chunker{Size: 120, Overlap: -1}.Split(sb.String())
	for _, p := range pieces {
		if runes(p.Text) > 120 {
			t.Errorf("piece of %d runes", runes(p.Text))
		}
		if !strings.HasSuffix(p.Text, ".") && !strings.HasSuffix(p.Text, "!") && !strings.HasSuffix(p.Text, "?") {
			t.Errorf("piece cut inside a sentence: %q", p.Text)
		}
		if strings.HasPrefix(p.Text, "0 for") {
			t.Errorf("split at the decimal point of 2.0: %q", p.Text)
		}
	}
}

func TestChunkerHeadingPaths(t *testing.T) {
	text := "Preamble text.\n\n# Plan\n\nIntro.\n\n## Scope\n\nScope text.\n\n```\n# not a heading\n```\n\n### Roads ###\n\nRoads text.\n\n## Levels\n\nLevels text.\n\n#hashtag is text\n\n# Annex\n\n"
	var got []string
	for _, p := range (knowledge.Chunker{}).Split(text) {
		got = append(got, strings.Join(p.HeadingPath, " > ")+": "+p.Text)
	}
	want := []string{
		": Preamble text.",
		"Plan: Intro.",
		"Plan > Scope: Scope text.\n\n```\n# not a heading\n```",
		"Plan > Scope > Roads: Roads text.",
		"Plan > Levels: Levels text.\n\n#hashtag is text",
	}
	if !slices.Equal(got, want) {
		t.Errorf("pieces:\n%q\nwant\n%q", got, want)
	}
}

func TestChunkerOverlap(t *testing.T) {
	text, _ := chineseText(30) // sentences of 16–17 runes
	pieces := knowledge.Chunker{Size: 80, Overlap: 40}.Split(text)
	if len(pieces) < 3 {
		t.Fatalf("%d pieces", len(pieces))
	}
	for i := 1; i < len(pieces); i++ {
		prev, cur := pieces[i-1].Text, pieces[i].Text
		// The next piece starts with prev's last whole sentences, ≤ 40 runes.
		shared := 0
		for n := 1; n <= runes(prev) && n <= runes(cur); n++ {
			r := []rune(prev)
			if strings.HasPrefix(cur, string(r[len(r)-n:])) {
				shared = n
			}
		}
		if shared == 0 || shared > 40 {
			t.Errorf("pieces %d and %d share %d runes:\n%q\n%q", i-1, i, shared, prev, cur)
		}
	}
	for _, p := range (knowledge.Chunker{Size: 80, Overlap: -1}).Split(text) {
		if strings.Count(text, p.Text) != 1 {
			t.Fatal("no-overlap pieces repeat text")
		}
	}
}

func TestChunkerParagraphsKeptWhole(t *testing.T) {
	paras := []string{
		strings.Repeat("甲", 30) + "。",
		strings.Repeat("乙", 30) + "。" + strings.Repeat("丙", 10) + "。",
		strings.Repeat("丁", 50) + "。",
	}
	pieces := knowledge.Chunker{Size: 90, Overlap: -1}.Split(strings.Join(paras, "\n\n"))
	var got []string
	for _, p := range pieces {
		got = append(got, p.Text)
	}
	want := []string{paras[0] + "\n\n" + paras[1], paras[2]}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChunkerLongSentence(t *testing.T) {
	long := strings.Repeat("很长的句子没有句号但是有逗号，", 100) // 1500 runes
	pieces := knowledge.Chunker{Size: 500}.Split(long + "。短句。")
	var all strings.Builder
	for _, p := range pieces {
		if runes(p.Text) > 500 {
			t.Errorf("piece of %d runes", runes(p.Text))
		}
		all.WriteString(p.Text)
	}
	if !strings.Contains(all.String(), "短句。") || runes(all.String()) < 1500 {
		t.Error("text lost")
	}
}

func TestChunkerDefaultsAndBlank(t *testing.T) {
	if got := (knowledge.Chunker{}).Split(" \n\n\t "); len(got) != 0 {
		t.Errorf("blank text gave %q", got)
	}
	text, _ := chineseText(200)
	for _, p := range (knowledge.Chunker{}).Split(text) {
		if runes(p.Text) > knowledge.DefaultChunkSize {
			t.Fatalf("piece of %d runes over the default", runes(p.Text))
		}
	}
	if got := (knowledge.Chunker{}).Split("a\r\nb\x00c"); len(got) != 1 || got[0].Text != "a\nbc" {
		t.Errorf("normalisation: %q", got)
	}
}

func FuzzChunker(f *testing.F) {
	text, _ := chineseText(10)
	for _, s := range []string{text, "# H\n\n## I\n\nx. y! z?\n\n- a\n- b", "```\n# x\n", strings.Repeat("字", 300), "\xff\r\n#"} {
		f.Add(s, 40, 10)
	}
	f.Fuzz(func(t *testing.T, text string, size, overlap int) {
		size = 10 + abs(size)%200
		c := knowledge.Chunker{Size: size, Overlap: overlap % 300}
		for _, p := range c.Split(text) {
			if strings.TrimSpace(p.Text) == "" || runes(p.Text) > size || !utf8.ValidString(p.Text) {
				t.Fatalf("bad piece (size %d): %q", size, p.Text)
			}
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func ExampleChunker_Split() {
	text := "# 预案\n\n## 响应\n\n拥堵指数超过2.0时启动三级响应。超过3.0时启动二级响应。\n\n## 报告\n\n每小时报告一次。"
	for _, p := range (knowledge.Chunker{Size: 20, Overlap: -1}).Split(text) {
		fmt.Println(p.HeadingPath, p.Text)
	}
	// Output:
	// [预案 响应] 拥堵指数超过2.0时启动三级响应。
	// [预案 响应] 超过3.0时启动二级响应。
	// [预案 报告] 每小时报告一次。
}
