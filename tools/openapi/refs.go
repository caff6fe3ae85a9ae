package openapi

import (
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

const schemaRefPrefix = "#/components/schemas/"

// refLoops finds the component schemas that are only a $ref and lead back
// to themselves (A → B → A), which no validator can resolve, and gives the
// loop's text for each.
func refLoops(t *openapi3.T) map[string]string {
	out := map[string]string{}
	if t.Components == nil {
		return out
	}
	next := func(name string) (string, bool) {
		r := t.Components.Schemas[name]
		if r == nil || !strings.HasPrefix(r.Ref, schemaRefPrefix) {
			return "", false
		}
		return strings.TrimPrefix(r.Ref, schemaRefPrefix), true
	}
	for name := range t.Components.Schemas {
		chain := []string{name}
		seen := map[string]bool{name: true}
		for cur := name; ; {
			n, ok := next(cur)
			if !ok {
				break
			}
			chain = append(chain, n)
			if seen[n] {
				if n == name {
					out[schemaRefPrefix+name] = strings.Join(chain, " → ")
				}
				break
			}
			seen[n] = true
			cur = n
		}
	}
	return out
}

// unresolved returns the first $ref under ref that did not resolve, or "".
func unresolved(ref *openapi3.SchemaRef, depth int) string {
	if ref == nil || depth > maxDepth {
		return ""
	}
	if ref.Value == nil {
		return ref.Ref
	}
	s := ref.Value
	subs := []*openapi3.SchemaRef{s.Items, s.AdditionalProperties.Schema, s.Not}
	for _, p := range s.Properties {
		subs = append(subs, p)
	}
	for _, list := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf, s.AllOf} {
		subs = append(subs, list...)
	}
	for _, sub := range subs {
		if r := unresolved(sub, depth+1); r != "" {
			return r
		}
	}
	return ""
}

// refProblem says why an operation's schemas cannot be used: a $ref that
// does not resolve, named with its loop when it is one; "" when none.
func refProblem(o op, loops map[string]string) string {
	var refs []*openapi3.SchemaRef
	for _, p := range params(o) {
		refs = append(refs, p.Schema)
	}
	if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
		for _, mt := range rb.Value.Content {
			if mt != nil {
				refs = append(refs, mt.Schema)
			}
		}
	}
	for _, r := range refs {
		bad := unresolved(r, 0)
		if bad == "" {
			continue
		}
		if loop, ok := loops[bad]; ok {
			return "schema $ref loop: " + loop + " never reaches a schema"
		}
		return "schema $ref " + bad + " does not resolve"
	}
	return ""
}
