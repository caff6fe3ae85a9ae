package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// Knowledge collections as MCP resources:
//
//	cityagent://collections/{collection}                 the documents the key may read (JSON)
//	cityagent://collections/{collection}/documents/{id}  one document's record (JSON)
//
// Reading needs the operator role (as GET /v1/collections/...) and a
// document above the key's clearance is not found. Stores keep chunks, not
// whole texts, so a document's record is its metadata, as the HTTP API
// gives it; its text reaches a client through ask_<agent>, cited.
const (
	collectionScheme = "cityagent://collections/"
	jsonMIME         = "application/json"
	// maxListedDocuments bounds the documents resources/list names; the
	// collection resource lists every one.
	maxListedDocuments = 500
)

func collectionURI(c string) string { return collectionScheme + url.PathEscape(c) }

func documentURI(c, id string) string {
	return collectionURI(c) + "/documents/" + url.PathEscape(id)
}

// parseResourceURI splits a resource URI into a collection and, for a
// document, its id.
func parseResourceURI(uri string) (collection, id string, ok bool) {
	rest, found := strings.CutPrefix(uri, collectionScheme)
	if !found || rest == "" {
		return "", "", false
	}
	c, doc, isDoc := strings.Cut(rest, "/documents/")
	collection, err := url.PathUnescape(c)
	if err != nil || collection == "" || strings.Contains(c, "/") {
		return "", "", false
	}
	if !isDoc {
		return collection, "", true
	}
	id, err = url.PathUnescape(doc)
	if err != nil || id == "" || strings.Contains(doc, "/") {
		return "", "", false
	}
	return collection, id, true
}

func (m *mcpService) addResourceTemplates() {
	if m.s.deps.Knowledge == nil {
		return
	}
	m.srv.AddResourceTemplate(&mcp.ResourceTemplate{Name: "collection", Title: "Knowledge collection",
		URITemplate: collectionScheme + "{collection}", MIMEType: jsonMIME,
		Description: "The documents of a knowledge collection that this key may read."}, m.readResource)
	m.srv.AddResourceTemplate(&mcp.ResourceTemplate{Name: "document", Title: "Knowledge document",
		URITemplate: collectionScheme + "{collection}/documents/{id}", MIMEType: jsonMIME,
		Description: "One document's record: title, source, clearance, metadata, validity."}, m.readResource)
}

// mayRead reports whether p may read the knowledge base over MCP.
func (m *mcpService) mayRead(p access.Principal) bool {
	return m.s.deps.Knowledge != nil && p.Role.Allows(access.RoleOperator)
}

// listResources is resources/list for p: every collection, and the
// documents p's clearance covers, up to maxListedDocuments.
func (m *mcpService) listResources(ctx context.Context, p access.Principal) (*mcp.ListResourcesResult, error) {
	out := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}, Cacheable: mcp.Cacheable{CacheScope: "private"}}
	if !m.mayRead(p) {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, knowledgeTimeout)
	defer cancel()
	kb := m.s.deps.Knowledge
	cols, err := kb.Collections(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcp: list collections: %w", err)
	}
	listed := 0
	for _, c := range cols {
		out.Resources = append(out.Resources, &mcp.Resource{URI: collectionURI(c.Name), Name: c.Name, MIMEType: jsonMIME,
			Title: "Collection " + c.Name, Description: "the documents of " + c.Name + " this key may read"})
		docs, err := kb.Documents(ctx, c.Name)
		if err != nil {
			return nil, fmt.Errorf("mcp: list documents of %s: %w", c.Name, err)
		}
		for _, d := range docs {
			if listed == maxListedDocuments || !p.Clearance.Covers(d.Clearance) {
				continue
			}
			listed++
			out.Resources = append(out.Resources, &mcp.Resource{URI: documentURI(c.Name, d.ID), Name: d.ID, Title: d.Title,
				MIMEType: jsonMIME, Description: d.Source})
		}
	}
	return out, nil
}

// readResource reads a collection or document resource within the key's
// clearance; anything it may not read is not found, as over HTTP.
func (m *mcpService) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	p, ok := principalOfRequest(req)
	collection, id, valid := parseResourceURI(uri)
	// A read that finds nothing is audited too (outcome not_found, with the
	// reason only the audit trail sees); the caller learns only "not found".
	notFound := func(reason string) (*mcp.ReadResourceResult, error) {
		if ok {
			m.auditRead(ctx, p, uri, map[string]any{"collection": collection, "document": id, "outcome": "not_found", "reason": reason})
		}
		return nil, mcp.ResourceNotFoundError(uri)
	}
	switch {
	case !ok:
		return nil, mcp.ResourceNotFoundError(uri)
	case !valid:
		return notFound("not a resource uri")
	case !m.mayRead(p):
		return notFound("role " + string(p.Role) + " may not read knowledge")
	}
	ctx, cancel := context.WithTimeout(ctx, knowledgeTimeout)
	defer cancel()
	v, err := m.resourceBody(ctx, p, collection, id)
	switch {
	case errors.Is(err, errAboveClearance):
		return notFound("above the key's clearance")
	case err != nil && m.s.problemFor(err).Status == 404:
		return notFound("no such collection or document")
	case err != nil:
		return nil, fmt.Errorf("mcp: read %s: %w", uri, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mcp: encode %s: %w", uri, err)
	}
	m.auditRead(ctx, p, uri, map[string]any{"collection": collection, "document": id, "outcome": "ok"})
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: jsonMIME, Text: string(b)}}}, nil
}

// errAboveClearance is a document the key's clearance does not cover: to
// the caller, not found.
var errAboveClearance = fmt.Errorf("mcp: document above the key's clearance: %w", knowledge.ErrNotFound)

// resourceBody is what a collection or document resource holds for p.
func (m *mcpService) resourceBody(ctx context.Context, p access.Principal, collection, id string) (any, error) {
	kb := m.s.deps.Knowledge
	if id != "" {
		d, err := kb.Document(ctx, collection, id)
		if err != nil {
			return nil, err
		}
		if !p.Clearance.Covers(d.Clearance) {
			return nil, errAboveClearance
		}
		return d, nil
	}
	docs, err := kb.Documents(ctx, collection)
	if err != nil {
		return nil, err
	}
	type entry struct {
		URI string `json:"uri"`
		knowledge.Document
	}
	out := []entry{}
	for _, d := range docs {
		if p.Clearance.Covers(d.Clearance) {
			out = append(out, entry{documentURI(collection, d.ID), d})
		}
	}
	return map[string]any{"collection": collection, "documents": out}, nil
}
