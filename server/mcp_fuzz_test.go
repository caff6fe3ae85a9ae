package server

import "testing"

// Resource URIs round-trip for any collection and document id, and no
// URI makes the parser panic.
func FuzzMCPResourceURI(f *testing.F) {
	f.Add("traffic", "doc-001", "cityagent://collections/traffic/documents/doc-001")
	f.Add("a b", "x/y", "cityagent://collections/a%2Fb")
	f.Add("交通", "文件", "cityagent://collections//documents/")
	f.Fuzz(func(t *testing.T, collection, id, uri string) {
		if collection != "" && id != "" {
			c, d, ok := parseResourceURI(documentURI(collection, id))
			if !ok || c != collection || d != id {
				t.Fatalf("document %q/%q parsed as %q/%q %v", collection, id, c, d, ok)
			}
			if c, d, ok := parseResourceURI(collectionURI(collection)); !ok || c != collection || d != "" {
				t.Fatalf("collection %q parsed as %q/%q %v", collection, c, d, ok)
			}
		}
		// What the parser accepts names one collection (and document),
		// and names it again when written back.
		c, d, ok := parseResourceURI(uri)
		if !ok {
			return
		}
		back := collectionURI(c)
		if d != "" {
			back = documentURI(c, d)
		}
		if c2, d2, ok2 := parseResourceURI(back); c == "" || !ok2 || c2 != c || d2 != d {
			t.Fatalf("%q accepted as %q/%q, written back as %q → %q/%q %v", uri, c, d, back, c2, d2, ok2)
		}
	})
}
