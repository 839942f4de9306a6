package layout

import (
	"bufio"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repo is the module: its root directory and path.
type repo struct {
	root, module string
}

func mustRepo(t *testing.T) repo {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return repo{root: dir, module: strings.Trim(strings.TrimSpace(m), `"`)}
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// fileImports returns the import paths of one Go file.
func fileImports(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range f.Imports {
		p, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			t.Fatalf("%s: import %s: %v", file, s.Path.Value, err)
		}
		out = append(out, p)
	}
	return out
}

// goFiles lists the .go files of the package in dir (rel, slash-separated,
// relative to the root), its test files if tests.
func (r repo) goFiles(t *testing.T, rel string, tests bool) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") != tests {
			continue
		}
		out = append(out, filepath.Join(r.root, filepath.FromSlash(rel), n))
	}
	return out
}

// rel is the directory of a package of the module, relative to its root;
// false for a package of another module or the standard library.
func (r repo) rel(importPath string) (string, bool) {
	if importPath == r.module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(importPath, r.module+"/")
	return rest, ok
}

// deps returns, for every package of the module that the files import
// directly or through other packages (their non-test files: what a build
// links in), the chain of imports that leads to it from the files.
func (r repo) deps(t *testing.T, files []string) map[string][]string {
	t.Helper()
	chain := map[string][]string{}
	var queue []string
	for _, f := range files {
		for _, imp := range fileImports(t, f) {
			if rel, ok := r.rel(imp); ok && chain[rel] == nil {
				chain[rel] = []string{strings.TrimPrefix(f, r.root+"/"), rel}
				queue = append(queue, rel)
			}
		}
	}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		for _, f := range r.goFiles(t, pkg, false) {
			for _, imp := range fileImports(t, f) {
				if rel, ok := r.rel(imp); ok && chain[rel] == nil {
					chain[rel] = append(slices.Clone(chain[pkg]), rel)
					queue = append(queue, rel)
				}
			}
		}
	}
	return chain
}

// under reports whether the package at rel is dir or below it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// packagesUnder lists the directories at and below dir (relative) that
// hold .go files, testdata left out.
func (r repo) packagesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(r.root, dir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, err := filepath.Rel(r.root, filepath.Dir(p))
			if err != nil {
				return err
			}
			if rel = filepath.ToSlash(rel); !slices.Contains(out, rel) {
				out = append(out, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no packages under %s", dir)
	}
	return out
}

// forbidden returns the packages of chains that are under one of dirs,
// each with its chain of imports.
func forbidden(chains map[string][]string, dirs ...string) []string {
	var out []string
	for pkg, chain := range chains {
		for _, d := range dirs {
			if under(pkg, d) {
				out = append(out, strings.Join(chain, " -> "))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestPolicyDoesNotImportL7: no package under policy/ depends on one
// under l7/ (the proxy and the device engine), nor on one under cmd/
// (where the application is wired: its config converts into
// policy/compose's input, not the other way round), neither directly nor
// through another package, nor in its tests.
func TestPolicyDoesNotImportL7(t *testing.T) {
	r := mustRepo(t)
	for _, pkg := range r.packagesUnder(t, "policy") {
		files := append(r.goFiles(t, pkg, false), r.goFiles(t, pkg, true)...)
		for _, bad := range forbidden(r.deps(t, files), "l7", "cmd") {
			t.Errorf("policy/ is the network policy and must not depend on l7/ or cmd/: %s", bad)
		}
	}
}

// TestOnlyRunLinksDaemon: in the CLI (package main of cmd/enforcer), only
// run.go imports the daemon; every other file, tests included, reaches it
// only through the admin API's client, and links it in through no other
// package.
func TestOnlyRunLinksDaemon(t *testing.T) {
	r := mustRepo(t)
	const (
		cli     = "cmd/enforcer"
		daemon  = "cmd/enforcer/daemon"
		client  = "cmd/enforcer/adminapi"
		runFile = "run.go"
	)
	files := append(r.goFiles(t, cli, false), r.goFiles(t, cli, true)...)
	var others []string
	for _, f := range files {
		imports := slices.ContainsFunc(fileImports(t, f), func(imp string) bool { return imp == r.module+"/"+daemon })
		switch {
		case filepath.Base(f) == runFile && !imports:
			t.Errorf("%s/%s does not import %s: the rule below checks nothing; update this test with the file of `enforcer run`", cli, runFile, daemon)
		case filepath.Base(f) != runFile && imports:
			t.Errorf("%s/%s imports %s: only %s (`enforcer run`) may; reach the daemon through %s", cli, filepath.Base(f), daemon, runFile, client)
		}
		if filepath.Base(f) != runFile {
			others = append(others, f)
		}
	}
	chains := r.deps(t, others)
	for _, bad := range forbidden(chains, daemon) {
		t.Errorf("the CLI links the daemon in other than through %s: %s", runFile, bad)
	}
	if chains[client] == nil {
		t.Errorf("the CLI's commands do not use %s: how do they reach the daemon?", client)
	}
}

// TestAdminAPIStaysAClient: the admin API's package links in nothing of
// the daemon's side, so the client cannot reach around the API.
func TestAdminAPIStaysAClient(t *testing.T) {
	r := mustRepo(t)
	const client = "cmd/enforcer/adminapi"
	for _, bad := range forbidden(r.deps(t, r.goFiles(t, client, false)), "cmd/enforcer/daemon", "cmd/enforcer/config", "loader", "policy/store", "l7") {
		t.Errorf("%s must stay a client of the daemon: %s", client, bad)
	}
}

// TestDeps checks the import walker itself on this repository's known
// arrows, so that a walker that finds nothing cannot pass the tests above.
func TestDeps(t *testing.T) {
	r := mustRepo(t)
	chains := r.deps(t, r.goFiles(t, "cmd/enforcer/daemon", false))
	for _, want := range []string{"policy", "policy/compose", "policy/store", "l7/proxy", "cmd/enforcer/adminapi", "loader"} {
		if chains[want] == nil {
			t.Errorf("the daemon's dependencies miss %s: the walker is broken", want)
		}
	}
	if got := forbidden(chains, "l7"); len(got) == 0 {
		t.Error("forbidden finds no l7 package among the daemon's dependencies")
	}
	if _, ok := r.rel("github.com/spf13/pflag"); ok {
		t.Error("another module's package taken for one of this module")
	}
}
