package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// packages lists every package of the module with its imports, tests' included.
func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "etl/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// TestImportRules: a stage never imports a later or an earlier stage, and the
// shared packages below the stages import none of them. Tests are held to the
// same rules.
func TestImportRules(t *testing.T) {
	stages := []string{"etl/extract", "etl/transform", "etl/load"}
	shared := []string{"etl/schemas", "etl/internal/store", "etl/internal/vendorhttp", "etl/internal/pace", "etl/internal/vendors", "etl/internal/jsonscan"}
	rules := []struct {
		from   string
		forbid []string
	}{
		{"etl/extract", []string{"etl/load", "etl/transform", "etl/internal/run"}},
		{"etl/transform", []string{"etl/extract", "etl/load", "etl/internal/run"}},
		{"etl/load", []string{"etl/extract", "etl/transform", "etl/internal/run"}},
	}
	for _, s := range shared {
		rules = append(rules, struct {
			from   string
			forbid []string
		}{s, append(stages, "etl/internal/run", "etl/internal/config")})
	}
	checked := map[string]bool{}
	for _, p := range packages(t) {
		for _, r := range rules {
			if !under(p.ImportPath, r.from) {
				continue
			}
			checked[r.from] = true
			for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
				for _, f := range r.forbid {
					if under(imp, f) && !under(imp, r.from) {
						t.Errorf("%s imports %s: %s must not depend on %s", p.ImportPath, imp, r.from, f)
					}
				}
			}
		}
	}
	for _, r := range rules {
		if !checked[r.from] {
			t.Errorf("no package under %s: the rule checks nothing (moved?)", r.from)
		}
	}
}

// TestReadmeLayout: every path the README's layout table names exists, and
// every package sits in a directory the table names (or below one).
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## Layout\n")
	if start < 0 {
		t.Fatal("README has no Layout section")
	}
	section := text[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	var named []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
			p := strings.TrimSuffix(m[1], "/")
			named = append(named, p)
			if _, err := os.Stat("../../" + p); err != nil {
				t.Errorf("README's layout table names %s, which does not exist", m[1])
			}
		}
	}
	if len(named) < 10 {
		t.Fatalf("found only %d paths in the layout table", len(named))
	}
	for _, p := range packages(t) {
		dir := strings.TrimPrefix(p.ImportPath, "etl/")
		ok := false
		for _, n := range named {
			ok = ok || under(dir, n)
		}
		if !ok {
			t.Errorf("package %s is in no directory the README's layout table names", p.ImportPath)
		}
	}
	top, err := os.ReadDir("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "bin" && e.Name() != "out" && !slices.Contains(named, e.Name()) && !hasPrefixIn(named, e.Name()+"/") {
			t.Errorf("top-level folder %s/ is not in the README's layout table", e.Name())
		}
	}
}

func hasPrefixIn(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
