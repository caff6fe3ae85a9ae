package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// surgeryAllowed lists the functions still cutting error text, by file and
// function, each with its owner's reason; the list only shrinks.
var surgeryAllowed = map[string]string{}

// TestNoErrorTextSurgery keeps what users read out of Error() strings: the
// server shows an error's public message (internal/usererr) and maps
// statuses in problemFor, so no server code may cut, search or compare the
// text of err.Error() (STYLE: never compare err.Error() strings). Showing a
// decoder's message whole, as "malformed JSON: " + err.Error() does, is
// not surgery.
func TestNoErrorTextSurgery(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			checked++
			for _, pos := range errorTextSurgery(fn) {
				if reason, ok := surgeryAllowed[name+" "+fn.Name.Name]; ok {
					t.Logf("%s: allowed for now: %s", fset.Position(pos), reason)
					continue
				}
				t.Errorf("%s: %s works on the text of an error; give the error a public message (internal/usererr) instead", fset.Position(pos), fn.Name.Name)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d functions; is the test running in server/?", checked)
	}
}

// errorTextSurgery returns where fn slices or compares an Error() string or
// hands it (or a variable holding it) to package strings.
func errorTextSurgery(fn *ast.FuncDecl) []token.Pos {
	held := map[string]bool{} // variables assigned an Error() string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
			for i, rhs := range as.Rhs {
				if id, ok := as.Lhs[i].(*ast.Ident); ok && isErrorCall(rhs) {
					held[id.Name] = true
				}
			}
		}
		return true
	})
	errorText := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return isErrorCall(e) || (ok && held[id.Name])
	}
	var found []token.Pos
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SliceExpr:
			if errorText(n.X) {
				found = append(found, n.Pos())
			}
		case *ast.IndexExpr:
			if errorText(n.X) {
				found = append(found, n.Pos())
			}
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (errorText(n.X) || errorText(n.Y)) {
				found = append(found, n.Pos())
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if pkg, isPkg := selX(sel); !ok || !isPkg || pkg != "strings" {
				return true
			}
			for _, a := range n.Args {
				if errorText(a) {
					found = append(found, n.Pos())
				}
			}
		}
		return true
	})
	return found
}

func isErrorCall(e ast.Expr) bool {
	c, ok := e.(*ast.CallExpr)
	if !ok || len(c.Args) != 0 {
		return false
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Error"
}

func selX(sel *ast.SelectorExpr) (string, bool) {
	if sel == nil {
		return "", false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	return id.Name, true
}

// TestErrorTextSurgeryDetector checks the detector on code that does and
// does not cut error text, so that TestNoErrorTextSurgery can fail.
func TestErrorTextSurgeryDetector(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body string
		want int
	}{
		"trim prefix":        {`return strings.TrimPrefix(err.Error(), "x: ")`, 1},
		"slice":              {`return err.Error()[len("agents: "):]`, 1},
		"held then replaced": {"msg := err.Error()\n\tmsg = strings.ReplaceAll(msg, \"x: \", \"\")\n\treturn msg", 1},
		"compared":           {`if err.Error() == "x" { return "" }; return ""`, 1},
		"shown whole":        {`return "malformed JSON: " + err.Error()`, 0},
		"other strings use":  {`return strings.TrimSpace(s)`, 0},
	} {
		t.Run(name, func(t *testing.T) {
			src := "package p\nimport \"strings\"\nvar _ = strings.TrimSpace\nfunc f(err error, s string) string {\n\t" + tc.body + "\n}\n"
			f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
			if err != nil {
				t.Fatal(err)
			}
			fn := f.Decls[len(f.Decls)-1].(*ast.FuncDecl)
			if got := len(errorTextSurgery(fn)); got != tc.want {
				t.Errorf("found %d, want %d", got, tc.want)
			}
		})
	}
}
