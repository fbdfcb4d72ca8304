package edgefn

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestPlatformsMatchHostContract pins the Platform constants to docs/host-contract.json, the names
// the host, the Workers shim and this SDK share: Platforms is exactly the file's list, in order,
// and so is every Platform constant declared in context.go.
func TestPlatformsMatchHostContract(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "host-contract.json")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the host contract: %v", err)
	}
	var contract struct {
		Platforms []string `json:"platforms"`
	}
	if err := json.Unmarshal(text, &contract); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if len(contract.Platforms) == 0 {
		t.Fatalf("%s lists no platforms", path)
	}

	var listed []string
	for _, p := range Platforms {
		listed = append(listed, p.String())
	}
	if !slices.Equal(listed, contract.Platforms) {
		t.Errorf("Platforms = %q, %s lists %q", listed, path, contract.Platforms)
	}

	declared := platformConstants(t, "context.go")
	if !slices.Equal(declared, contract.Platforms) {
		t.Errorf("context.go declares the Platform constants %q, %s lists %q", declared, path, contract.Platforms)
	}
}

// platformConstants returns the values of the constants of type Platform declared in file, in
// order, so a constant added without updating Platforms or the contract fails the test above.
func platformConstants(t *testing.T, file string) []string {
	t.Helper()
	parsed, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	var values []string
	for _, decl := range parsed.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if ident, ok := vs.Type.(*ast.Ident); !ok || ident.Name != "Platform" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: a Platform constant is not a string literal", file)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				values = append(values, s)
			}
		}
	}
	return values
}
