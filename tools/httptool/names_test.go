package httptool_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/httptool"
)

// Tool names the server offers itself (propose_*, ask_*, list_proposals)
// are refused, whatever their case, with the field named.
func TestReservedNamesRefused(t *testing.T) {
	for _, name := range []string{"PROPOSE_x", "Ask_x", "List_Proposals"} {
		// MCP servers' names keep their case until they are mapped.
		if httptool.ReservedName(name) == "" {
			t.Errorf("%s is not reserved", name)
		}
	}
	for _, name := range []string{"propose_traffic_retime_signal", "ask_planner", "list_proposals"} {
		_, err := httptool.New(httptool.Def{Name: name, Description: "d", Endpoint: "https://example.org/x"}, nil, nil)
		var ve *httptool.ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Field != "name" || !strings.Contains(ve.Problems[0].Message, "reserved") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"proposals_open", "asking_price", "list_proposal_types"} {
		if _, err := httptool.New(httptool.Def{Name: name, Description: "d", Endpoint: "https://example.org/x"}, nil, nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// int64 and int32 arguments out of range are refused on their exact text
// (the schema validator's float64 cannot tell 2⁶³-1 from 2⁶³).
func TestIntegerFormatRanges(t *testing.T) {
	srv, last := recorder(t, 200)
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/r", Parameters: json.RawMessage(
		`{"type":"object","properties":{"id":{"type":"integer","format":"int64"},"n":{"type":"integer","format":"int32"},
		  "ids":{"type":"array","items":{"type":"integer","format":"int64"}}}}`)}, nil)
	call(t, tool, `{"id":9223372036854775807,"n":-2147483648}`)
	if got := last().target; got != "/r?id=9223372036854775807&n=-2147483648" {
		t.Errorf("sent %s", got)
	}
	for _, args := range []string{`{"id":9223372036854775808}`, `{"id":-9223372036854775809}`, `{"n":2147483648}`, `{"ids":[1,9223372036854775808]}`} {
		_, err := tool.Call(context.Background(), json.RawMessage(args))
		var ae *tools.ArgsError
		if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "is not an int") {
			t.Errorf("%s: %v", args, err)
		}
	}
}

// Multipart parts name their field quoted (RFC 7578), and a file part
// carries the file name given, or the field name when none is.
func TestMultipartDisposition(t *testing.T) {
	srv, last := recorder(t, 200)
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/upload", Method: "POST",
		Parameters: json.RawMessage(`{"type":"object","properties":{"body":{"type":"object"}}}`),
		Body:       &httptool.Body{Arg: "body", ContentType: httptool.ContentMultipart, Files: []string{"doc", "photo"}}}, nil)
	b64 := base64.StdEncoding.EncodeToString([]byte("%PDF-1.7"))
	call(t, tool, `{"body":{"note":"hi","doc":{"content":"`+b64+`","filename":"report \"q3\".pdf","content_type":"application/pdf"},"photo":"`+b64+`"}}`)
	w := last()
	_, ps, err := mime.ParseMediaType(w.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{}
	ctypes := map[string]string{}
	mr := multipart.NewReader(strings.NewReader(string(w.body)), ps["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, dps, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		raw[dps["name"]] = p.Header.Get("Content-Disposition")
		ctypes[dps["name"]] = p.Header.Get("Content-Type")
	}
	want := map[string]string{
		"note":  `form-data; name="note"`,
		"doc":   `form-data; name="doc"; filename="report %22q3%22.pdf"`,
		"photo": `form-data; name="photo"; filename="photo"`,
	}
	for k, v := range want {
		if raw[k] != v {
			t.Errorf("part %s: Content-Disposition %q, want %q", k, raw[k], v)
		}
	}
	if ctypes["doc"] != "application/pdf" || ctypes["photo"] != "application/octet-stream" {
		t.Errorf("part types %v", ctypes)
	}
}
