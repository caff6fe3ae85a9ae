package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/extract"
)

// Knowledge-base limits for one request.
const (
	maxIngestDocuments = 10_000 // documents one request may create (a CSV's rows)
	maxListDocuments   = 1000
	knowledgeTimeout   = 2 * time.Minute
)

// collectionRoutes serves the knowledge base: collections and their
// documents (read: operator+, write: developer+) and search (operator+).
func (s *Server) collectionRoutes(v1 fiber.Router) {
	read, write := s.require(access.RoleOperator), s.require(access.RoleDeveloper)
	v1.Get("/collections", read, s.listCollections)
	v1.Post("/collections", write, s.createCollection)
	v1.Get("/collections/:c", read, s.getCollection)
	v1.Get("/collections/:c/documents", read, s.listDocuments)
	v1.Post("/collections/:c/documents", write, s.ingestDocuments)
	v1.Get("/collections/:c/documents/:id", read, s.getDocument)
	v1.Delete("/collections/:c/documents/:id", write, s.deleteDocument)
	v1.Post("/collections/:c/search", read, s.searchCollection)
}

func (s *Server) knowledgeBase() (*knowledge.Base, error) {
	if s.deps.Knowledge == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the knowledge base is not enabled on this server"}
	}
	return s.deps.Knowledge, nil
}

func knowledgeContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), knowledgeTimeout)
}

func (s *Server) listCollections(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	cols, err := kb.Collections(ctx)
	if err != nil {
		return err
	}
	if cols == nil {
		cols = []knowledge.CollectionInfo{}
	}
	return c.JSON(fiber.Map{"collections": cols})
}

type createCollectionRequest struct {
	Name string `json:"name"`
}

func (s *Server) createCollection(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	var req createCollectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := knowledge.CheckCollectionName(req.Name); err != nil {
		var fe *knowledge.FieldError
		errors.As(err, &fe)
		return badRequest("the collection name is invalid", FieldError{"name", fe.Message})
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	created, err := kb.CreateCollection(ctx, req.Name)
	if err != nil {
		return err
	}
	if created {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(fiber.Map{"name": req.Name, "created": created})
}

// collection checks the :c parameter names an existing collection.
func (s *Server) collection(ctx context.Context, c *fiber.Ctx, kb *knowledge.Base) (string, error) {
	name := c.Params("c")
	if err := knowledge.CheckCollectionName(name); err != nil {
		return "", notFound("unknown collection")
	}
	ok, err := kb.HasCollection(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", notFound(fmt.Sprintf("unknown collection %q (create it with POST /v1/collections)", name))
	}
	return name, nil
}

func (s *Server) getCollection(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	cols, err := kb.Collections(ctx)
	if err != nil {
		return err
	}
	for _, col := range cols {
		if col.Name == c.Params("c") {
			return c.JSON(col)
		}
	}
	return notFound("unknown collection")
}

// listDocuments lists the documents the caller's clearance covers, by id:
// ?limit (default and maximum 1000) and ?after (an id) page through them.
func (s *Server) listDocuments(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	limit := maxListDocuments
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListDocuments {
			return badRequest("limit is out of range", FieldError{"limit", fmt.Sprintf("must be 1 to %d", maxListDocuments)})
		}
		limit = n
	}
	after := c.Query("after")
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	name, err := s.collection(ctx, c, kb)
	if err != nil {
		return err
	}
	docs, err := kb.Documents(ctx, name)
	if err != nil {
		return err
	}
	clearance := mustPrincipal(c).Clearance
	out := []knowledge.Document{}
	next := ""
	for _, d := range docs {
		if d.ID <= after && after != "" || !clearance.Covers(d.Clearance) {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1].ID
			break
		}
		out = append(out, d)
	}
	resp := fiber.Map{"collection": name, "documents": out}
	if next != "" {
		resp["next"] = next
	}
	return c.JSON(resp)
}

// getDocument returns a document without its text; one above the caller's
// clearance is not found.
func (s *Server) getDocument(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	name, err := s.collection(ctx, c, kb)
	if err != nil {
		return err
	}
	d, err := kb.Document(ctx, name, c.Params("id"))
	if err != nil {
		return err
	}
	if !mustPrincipal(c).Clearance.Covers(d.Clearance) {
		return notFound("no such document")
	}
	return c.JSON(d)
}

func (s *Server) deleteDocument(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	name, err := s.collection(ctx, c, kb)
	if err != nil {
		return err
	}
	id := c.Params("id")
	d, err := kb.Document(ctx, name, id)
	if err != nil {
		return err
	}
	if !mustPrincipal(c).Clearance.Covers(d.Clearance) {
		return notFound("no such document")
	}
	if err := kb.Delete(ctx, name, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type searchRequest struct {
	Query  string            `json:"query"`
	K      *int              `json:"k"`
	Filter map[string]string `json:"filter"`
	At     string            `json:"at"` // validity date: YYYY-MM-DD or RFC 3339; default now
}

// searchCollection runs a hybrid search with the caller's clearance.
func (s *Server) searchCollection(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	var req searchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var errs []FieldError
	if strings.TrimSpace(req.Query) == "" {
		errs = append(errs, FieldError{"query", "is required"})
	}
	k := knowledge.DefaultK
	if req.K != nil {
		if *req.K < 1 || *req.K > knowledge.MaxK {
			errs = append(errs, FieldError{"k", fmt.Sprintf("must be 1 to %d", knowledge.MaxK)})
		}
		k = *req.K
	}
	for key := range req.Filter {
		if key == "" {
			errs = append(errs, FieldError{"filter", "has an empty key"})
		}
	}
	var at time.Time
	if req.At != "" {
		if at, err = extract.ParseDate(req.At); err != nil {
			errs = append(errs, FieldError{"at", err.Error()})
		}
	}
	if len(errs) > 0 {
		return badRequest("the search is invalid", errs...)
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	name := c.Params("c")
	if err := knowledge.CheckCollectionName(name); err != nil {
		return notFound("unknown collection")
	}
	hits, err := kb.Search(ctx, knowledge.Query{Collection: name, Text: req.Query, K: k, Filter: req.Filter,
		Clearance: mustPrincipal(c).Clearance, At: at})
	if err != nil {
		return err
	}
	// Defence in depth: the store filters by clearance already.
	visible := []knowledge.Hit{}
	for _, h := range hits {
		if mustPrincipal(c).Clearance.Covers(h.Clearance) {
			visible = append(visible, h)
		}
	}
	return c.JSON(fiber.Map{"collection": name, "query": req.Query, "hits": visible})
}

// documentRequest is one document sent as JSON: its text in text (format
// text, markdown, html or csv, default text) or its bytes in content_base64
// (any format, e.g. pdf; the format comes from format or filename).
type documentRequest struct {
	ID            string            `json:"id"`
	Title         string            `json:"title"`
	Source        string            `json:"source"`
	Text          *string           `json:"text"`
	ContentBase64 string            `json:"content_base64"`
	Format        string            `json:"format"`
	Filename      string            `json:"filename"`
	Clearance     string            `json:"clearance"`
	Metadata      map[string]string `json:"metadata"`
	Effective     string            `json:"effective"`
	Expires       string            `json:"expires"`
	CSV           *csvOptions       `json:"csv"`
}

type csvOptions struct {
	IDColumn        string   `json:"id_column"`
	TitleColumn     string   `json:"title_column"`
	MetadataColumns []string `json:"metadata_columns"`
}

type batchRequest struct {
	Documents []documentRequest `json:"documents"`
}

// ingestResponse reports what one request did.
type ingestResponse struct {
	Collection string                   `json:"collection"`
	Results    []knowledge.IngestResult `json:"results"`
	Created    int                      `json:"created"`
	Updated    int                      `json:"updated"`
	Unchanged  int                      `json:"unchanged"`
	Chunks     int                      `json:"chunks"`
}

// ingestDocuments takes one document or {"documents": […]} as JSON, or
// files as multipart/form-data, extracts and validates every document, and
// only then writes them: bad input writes nothing.
func (s *Server) ingestDocuments(c *fiber.Ctx) error {
	kb, err := s.knowledgeBase()
	if err != nil {
		return err
	}
	ctx, cancel := knowledgeContext(c)
	defer cancel()
	name, err := s.collection(ctx, c, kb)
	if err != nil {
		return err
	}
	var docs []knowledge.Document
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	if strings.HasPrefix(ct, fiber.MIMEMultipartForm) {
		docs, err = s.multipartDocuments(c, name)
	} else {
		docs, err = jsonDocuments(c, name)
	}
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return badRequest("no documents in the request")
	}
	if len(docs) > maxIngestDocuments {
		return &Problem{Status: fiber.StatusRequestEntityTooLarge, Title: "Request Entity Too Large", Detail: fmt.Sprintf("%d documents in one request (limit %d)", len(docs), maxIngestDocuments)}
	}
	caller := mustPrincipal(c).Clearance
	seen := map[string]bool{}
	for i := range docs {
		// Citations name a source. A constant keeps the content hash, and
		// so re-ingestion, independent of who uploads and when.
		if docs[i].Source == "" {
			docs[i].Source = "API upload"
		}
	}
	for i, d := range docs {
		field := func(f string) string {
			if len(docs) == 1 {
				return f
			}
			return fmt.Sprintf("documents[%d].%s", i, f)
		}
		if seen[d.ID] {
			return badRequest("two documents have one id", FieldError{field("id"), fmt.Sprintf("%q appears twice", d.ID)})
		}
		seen[d.ID] = true
		if err := kb.Validate(d); err != nil {
			var fe *knowledge.FieldError
			if errors.As(err, &fe) {
				p := s.problemFor(err)
				p.Errors = []FieldError{{field(fe.Field), fe.Message}}
				if d.ID != "" {
					p.Detail += fmt.Sprintf(" (document %q)", d.ID)
				}
				return p
			}
			return err
		}
		cl, _ := access.ParseClearance(string(d.Clearance))
		if !caller.Covers(cl) {
			return forbidden(fmt.Sprintf("the key's clearance %s does not cover a %s document", caller, cl))
		}
		// Replacing a document is writing over what it holds: a key below
		// the stored document's clearance may neither rewrite nor downgrade it.
		if d.ID != "" {
			old, err := kb.Document(ctx, name, d.ID)
			switch {
			case err == nil && !caller.Covers(old.Clearance):
				p := forbidden(fmt.Sprintf("document %q exists with a clearance the key's %s does not cover", d.ID, caller))
				p.Errors = []FieldError{{field("id"), "taken by a document above the key's clearance"}}
				return p
			case err != nil && !errors.Is(err, knowledge.ErrNotFound) && !errors.Is(err, errors.ErrUnsupported):
				return err
			}
		}
	}
	results, err := kb.IngestMany(ctx, docs)
	resp := ingestResponse{Collection: name, Results: []knowledge.IngestResult{}}
	for _, r := range results {
		if r.DocID == "" {
			continue // failed; err says why
		}
		resp.Results = append(resp.Results, r)
		resp.Chunks += r.Chunks
		switch r.Status {
		case knowledge.IngestCreated:
			resp.Created++
		case knowledge.IngestUpdated:
			resp.Updated++
		case knowledge.IngestUnchanged:
			resp.Unchanged++
		}
	}
	if err != nil {
		if len(resp.Results) > 0 {
			s.log.Warn("ingest partly failed", "collection", name, "written", len(resp.Results), "of", len(docs), "err", err)
		}
		return err
	}
	if resp.Created+resp.Updated > 0 {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(resp)
}

// jsonDocuments decodes one document or a batch.
func jsonDocuments(c *fiber.Ctx, collection string) ([]knowledge.Document, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(c.Body(), &probe); err == nil {
		if _, batch := probe["documents"]; batch {
			var req batchRequest
			if err := decodeJSON(c, &req); err != nil {
				return nil, err
			}
			var docs []knowledge.Document
			for i, dr := range req.Documents {
				ds, err := dr.documents(collection, fmt.Sprintf("documents[%d].", i))
				if err != nil {
					return nil, err
				}
				docs = append(docs, ds...)
			}
			return docs, nil
		}
	}
	var req documentRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	return req.documents(collection, "")
}

func (r documentRequest) documents(collection, prefix string) ([]knowledge.Document, error) {
	base, errs := baseDocument(collection, r.ID, r.Title, r.Source, r.Clearance, r.Metadata, r.Effective, r.Expires, prefix)
	var format extract.Format
	if r.Format != "" {
		f, err := extract.ParseFormat(r.Format)
		if err != nil {
			errs = append(errs, FieldError{prefix + "format", "must be text, markdown, html, pdf or csv"})
		}
		format = f
	}
	var data []byte
	switch {
	case r.Text != nil && r.ContentBase64 != "":
		errs = append(errs, FieldError{prefix + "text", "send text or content_base64, not both"})
	case r.Text != nil:
		data = []byte(*r.Text)
		if format == "" {
			format = extract.Text
			if r.Filename != "" {
				format = ""
			}
		}
		if format == extract.PDF {
			errs = append(errs, FieldError{prefix + "format", "a PDF goes in content_base64"})
		}
	case r.ContentBase64 != "":
		b, err := base64.StdEncoding.DecodeString(r.ContentBase64)
		if err != nil {
			errs = append(errs, FieldError{prefix + "content_base64", "is not valid base64"})
		}
		data = b
	default:
		errs = append(errs, FieldError{prefix + "text", "is required (or content_base64)"})
	}
	if len(errs) > 0 {
		return nil, badRequest("the document is invalid", errs...)
	}
	var opts extract.Options
	if r.CSV != nil {
		opts = extract.Options{IDColumn: r.CSV.IDColumn, TitleColumn: r.CSV.TitleColumn, MetadataColumns: r.CSV.MetadataColumns}
	}
	if base.ID == "" && r.Filename == "" && format != extract.CSV {
		return nil, badRequest("the document is invalid", FieldError{prefix + "id", "is required"})
	}
	return extract.Extract(extract.File{Name: r.Filename, Data: data, Format: format}, base, opts)
}

// baseDocument checks the fields every document of a request shares.
func baseDocument(collection, id, title, source, clearance string, meta map[string]string, effective, expires, prefix string) (knowledge.Document, []FieldError) {
	var errs []FieldError
	doc := knowledge.Document{ID: strings.TrimSpace(id), Collection: collection, Title: title, Source: source, Metadata: meta}
	if clearance != "" {
		c, err := access.ParseClearance(clearance)
		if err != nil {
			errs = append(errs, FieldError{prefix + "clearance", "must be public, internal, sensitive or restricted"})
		}
		doc.Clearance = c
	}
	for _, d := range []struct {
		field, value string
		dst          **time.Time
	}{{"effective", effective, &doc.Effective}, {"expires", expires, &doc.Expires}} {
		if d.value == "" {
			continue
		}
		t, err := extract.ParseDate(d.value)
		if err != nil {
			errs = append(errs, FieldError{prefix + d.field, err.Error()})
			continue
		}
		*d.dst = &t
	}
	return doc, errs
}

// multipartDocuments reads files (field "file", one or more) and the
// shared fields: id (one file only), title, source, clearance, metadata (a
// JSON object), effective, expires, format, and for CSV id_column,
// title_column and metadata_columns (comma-separated).
func (s *Server) multipartDocuments(c *fiber.Ctx, collection string) ([]knowledge.Document, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, badRequest("malformed multipart/form-data: " + err.Error())
	}
	value := func(k string) string {
		if v := form.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	known := map[string]bool{"id": true, "title": true, "source": true, "clearance": true, "metadata": true, "effective": true,
		"expires": true, "format": true, "id_column": true, "title_column": true, "metadata_columns": true}
	for k, vs := range form.Value {
		if !known[k] {
			return nil, badRequest("unknown field", FieldError{k, "is not a known field"})
		}
		for _, v := range vs {
			if p := formValueProblem(k, v); p != "" {
				return nil, badRequest("a field holds text that is not acceptable", FieldError{k, p})
			}
		}
	}
	files := form.File["file"]
	for _, fh := range files {
		// A file's name becomes its document's id when id is left out.
		if p := formValueProblem("id", fh.Filename); p != "" {
			return nil, badRequest("a file name is not acceptable", FieldError{"file", "its name " + p})
		}
	}
	for k := range form.File {
		if k != "file" {
			return nil, badRequest("unknown field", FieldError{k, "send files in the field \"file\""})
		}
	}
	if len(files) == 0 {
		return nil, badRequest("no file", FieldError{"file", "is required"})
	}
	var meta map[string]string
	var errs []FieldError
	if m := value("metadata"); m != "" {
		if err := json.Unmarshal([]byte(m), &meta); err != nil {
			errs = append(errs, FieldError{"metadata", "must be a JSON object of strings"})
		}
	}
	base, berrs := baseDocument(collection, value("id"), value("title"), value("source"), value("clearance"), meta, value("effective"), value("expires"), "")
	errs = append(errs, berrs...)
	if base.ID != "" && len(files) > 1 {
		errs = append(errs, FieldError{"id", "names one document; leave it out to name each file's document by its file name"})
	}
	var format extract.Format
	if f := value("format"); f != "" {
		if format, err = extract.ParseFormat(f); err != nil {
			errs = append(errs, FieldError{"format", "must be text, markdown, html, pdf or csv"})
		}
	}
	if len(errs) > 0 {
		return nil, badRequest("the upload is invalid", errs...)
	}
	opts := extract.Options{IDColumn: value("id_column"), TitleColumn: value("title_column")}
	for _, col := range strings.Split(value("metadata_columns"), ",") {
		if col = strings.TrimSpace(col); col != "" {
			opts.MetadataColumns = append(opts.MetadataColumns, col)
		}
	}
	var docs []knowledge.Document
	for _, fh := range files {
		data, err := readPart(fh)
		if err != nil {
			return nil, badRequest("cannot read the file " + fh.Filename)
		}
		ds, err := extract.Extract(extract.File{Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data, Format: format}, base, opts)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, f)
	return buf.Bytes(), err
}
