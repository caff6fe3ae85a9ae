package extract

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.pdf")

func samplePDF() []byte {
	return minimalPDF("Night Works Permit Guide",
		[]string{"Night works permit guide", "Night roadworks between 22:00 and 06:00 need a night works permit.", "The permit fee is 200 yuan per night."},
		[]string{"Inspection", "Inspectors check noise barriers within 2 working days."})
}

// TestSamplePDFFile keeps testdata/sample.pdf (used by the CLI tests and the
// docs) identical to what the generator writes.
func TestSamplePDFFile(t *testing.T) {
	path := filepath.Join("testdata", "sample.pdf")
	if *update {
		if err := os.WriteFile(path, samplePDF(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update ./knowledge/extract)", err)
	}
	if string(got) != string(samplePDF()) {
		t.Fatal("testdata/sample.pdf is stale (run go test -update ./knowledge/extract)")
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, file, ctype string
		data              string
		want              Format
		err               error
	}{
		{"markdown by extension", "a.md", "", "# x", Markdown, nil},
		{"extension beats type", "a.CSV", "text/plain", "a,b", CSV, nil},
		{"html by type", "upload", "text/html; charset=utf-8", "<p>x", HTML, nil},
		{"pdf by type", "", "application/pdf", "%PDF-1.4", PDF, nil},
		{"pdf sniffed", "", "", "%PDF-1.7\n...", PDF, nil},
		{"html sniffed", "", "application/octet-stream", "<!DOCTYPE html><html>", HTML, nil},
		{"text sniffed", "notes", "", "信号配时 signal timing", Text, nil},
		{"docx refused", "plan.docx", "", "PK\x03\x04", "", ErrUnsupported},
		{"image refused", "", "image/png", "\x89PNG", "", ErrUnsupported},
		{"binary refused", "", "", "\x00\x01\x02\x03\xff", "", ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(tc.file, tc.ctype, []byte(tc.data))
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Detect = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	effective := time.Date(2024, 6, 15, 0, 0, 0, 0, cityTime)
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("# 占道施工\n\n夜间施工须办理许可。")
	for _, tc := range []struct {
		name  string
		file  File
		base  knowledge.Document
		check func(t *testing.T, d knowledge.Document)
	}{
		{"text", File{Name: "notes/ops rules.txt", Data: []byte("\uFEFFLine one.\r\nLine two.")}, knowledge.Document{},
			func(t *testing.T, d knowledge.Document) {
				if d.ID != "ops-rules" || d.Title != "ops rules" || d.Source != "ops rules.txt" || !strings.HasPrefix(d.Text, "Line one.") {
					t.Errorf("%+v", d)
				}
			}},
		{"markdown front matter", File{Name: "x.md", Data: []byte("---\nid: signal-plan\ntitle: 信号配时\nclearance: internal\neffective: 2024-06-15\nmetadata:\n  district: dongcheng\n  lang: zh\n---\n# 总则\n\n正文。")},
			knowledge.Document{Metadata: map[string]string{"lang": "zh-en"}},
			func(t *testing.T, d knowledge.Document) {
				if d.ID != "signal-plan" || d.Title != "信号配时" || d.Clearance != access.Internal || d.Effective == nil || !d.Effective.Equal(effective) ||
					d.Metadata["district"] != "dongcheng" || d.Metadata["lang"] != "zh-en" || !strings.HasPrefix(d.Text, "# 总则") {
					t.Errorf("%+v", d)
				}
			}},
		{"markdown title from heading", File{Name: "y.md", Data: []byte("Intro\n\n# Road Works Rules\n\ntext")}, knowledge.Document{ID: "given", Title: ""},
			func(t *testing.T, d knowledge.Document) {
				if d.ID != "given" || d.Title != "Road Works Rules" {
					t.Errorf("%+v", d)
				}
			}},
		{"request overrides front matter", File{Name: "z.md", Data: []byte("---\ntitle: A\nclearance: public\n---\nbody")}, knowledge.Document{Title: "B", Clearance: access.Restricted},
			func(t *testing.T, d knowledge.Document) {
				if d.Title != "B" || d.Clearance != access.Restricted {
					t.Errorf("%+v", d)
				}
			}},
		{"gbk text", File{Name: "gbk.md", Data: []byte(gbk)}, knowledge.Document{},
			func(t *testing.T, d knowledge.Document) {
				if d.Title != "占道施工" || !strings.Contains(d.Text, "夜间施工须办理许可") {
					t.Errorf("%+v", d)
				}
			}},
		{"html", File{Name: "page.html", Data: []byte(`<html><head><title> Hotline rules </title><style>p{}</style><script>alert(1)</script></head>
<body><nav>Home | About</nav><h1>12345 热线</h1><p>Answer within <b>15 s</b>.</p><h2>Deadlines</h2><ul><li>Emergency: 2 h</li><li>General: 7 days</li></ul>
<table><tr><th>Type</th><th>Limit</th></tr><tr><td>Water</td><td>24 h</td></tr></table></body></html>`)}, knowledge.Document{},
			func(t *testing.T, d knowledge.Document) {
				want := "# 12345 热线\n\nAnswer within 15 s.\n\n## Deadlines\n\nEmergency: 2 h\nGeneral: 7 days\n\nType | Limit\nWater | 24 h"
				if d.Title != "Hotline rules" || d.Text != want {
					t.Errorf("title %q text\n%s\nwant\n%s", d.Title, d.Text, want)
				}
			}},
		{"pdf", File{Name: "guide.pdf", Data: samplePDF()}, knowledge.Document{},
			func(t *testing.T, d knowledge.Document) {
				if d.Title != "Night Works Permit Guide" || !strings.Contains(d.Text, "need a night works permit") || !strings.Contains(d.Text, "noise barriers") {
					t.Errorf("%+v", d)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Extract(tc.file, tc.base, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			tc.check(t, docs[0])
		})
	}
}

func TestExtractCSV(t *testing.T) {
	data := "\uFEFFpermit_no,title,district,status,fee\nP-1,Road occupation,gaoxin,issued,800\n,,,,\nP-2,,nanhu,review,\n"
	docs, err := Extract(File{Name: "permits.csv", Data: []byte(data)}, knowledge.Document{Clearance: access.Internal, Metadata: map[string]string{"kind": "register"}},
		Options{IDColumn: "permit_no", MetadataColumns: []string{"district", "Status"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2 (blank row skipped)", len(docs))
	}
	d := docs[0]
	if d.ID != "permits-P-1" || d.Title != "Road occupation" || d.Clearance != access.Internal || d.Source != "permits.csv" ||
		d.Metadata["district"] != "gaoxin" || d.Metadata["status"] != "issued" || d.Metadata["kind"] != "register" ||
		d.Text != "permit_no: P-1\ntitle: Road occupation\ndistrict: gaoxin\nstatus: issued\nfee: 800\n" {
		t.Errorf("%+v", d)
	}
	if docs[1].Title != "permits #P-2" || docs[1].Metadata["district"] != "nanhu" {
		t.Errorf("%+v", docs[1])
	}
	rows, err := Extract(File{Name: "r.csv", Data: []byte("a,b\n1,2\n3,4\n")}, knowledge.Document{}, Options{})
	if err != nil || len(rows) != 2 || rows[1].ID != "r-2" {
		t.Fatalf("row-numbered ids: %+v %v", rows, err)
	}
}

func TestExtractBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		file File
		opts Options
		want error
	}{
		{"corrupt pdf", File{Name: "x.pdf", Data: []byte("%PDF-1.4\nthis is not a pdf body")}, Options{}, ErrCorrupt},
		{"truncated pdf", File{Name: "x.pdf", Data: samplePDF()[:300]}, Options{}, ErrCorrupt},
		{"not a pdf", File{Name: "x.pdf", Data: []byte("hello")}, Options{}, ErrCorrupt},
		{"binary text", File{Name: "x.txt", Data: []byte("ab\x00cd")}, Options{}, ErrCorrupt},
		{"utf-16", File{Name: "x.txt", Data: []byte("\xff\xfea\x00")}, Options{}, ErrCorrupt},
		{"ragged csv", File{Name: "x.csv", Data: []byte("a,b\n1,2,3\n")}, Options{}, ErrCorrupt},
		{"csv without rows", File{Name: "x.csv", Data: []byte("a,b\n")}, Options{}, knowledge.ErrEmptyDocument},
		{"csv unknown id column", File{Name: "x.csv", Data: []byte("a,b\n1,2\n")}, Options{IDColumn: "id"}, ErrCorrupt},
		{"csv duplicate ids", File{Name: "x.csv", Data: []byte("id,b\n1,2\n1,3\n")}, Options{}, ErrCorrupt},
		{"csv too many rows", File{Name: "x.csv", Data: []byte("a\n1\n2\n3\n")}, Options{MaxRows: 2}, ErrTooLarge},
		{"bad front matter", File{Name: "x.md", Data: []byte("---\nclearence: public\n---\nbody")}, Options{}, ErrCorrupt},
		{"bad date", File{Name: "x.md", Data: []byte("---\neffective: next week\n---\nbody")}, Options{}, ErrCorrupt},
		{"unsupported", File{Name: "x.docx", Data: []byte("PK")}, Options{}, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Extract(tc.file, knowledge.Document{}, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("a.md", []byte("---\ntitle: x\n---\n# h\n\ntext"))
	f.Add("a.html", []byte("<h1>x</h1><p>y</p>"))
	f.Add("a.csv", []byte("id,title\n1,x\n"))
	f.Add("a.pdf", samplePDF())
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		docs, err := Extract(File{Name: name, Data: data}, knowledge.Document{}, Options{MaxRows: 100})
		if err == nil && len(docs) == 0 {
			t.Fatal("no error and no documents")
		}
	})
}
