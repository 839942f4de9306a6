package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/geoip/geoiptest"
)

// cli runs the CLI in-process with the given environment variables (and
// no others) and returns what it printed and its exit status.
func cli(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
	}
	err := dispatch(context.Background(), e, args)
	status = exitStatus(err, &errOut)
	return out.String(), errOut.String(), status
}

func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"geoip", "--help"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), "Usage: enforcer geoip COMMAND") {
		t.Errorf("stdout %q", out.String())
	}
	if err := run([]string{"nope"}, strings.NewReader(""), &out, &errOut); err == nil {
		t.Error("run(nope) succeeded")
	}
}

// TestHelpEverywhere walks the command tree: every command answers --help
// on stdout with exit status 0, a usage line and examples.
func TestHelpEverywhere(t *testing.T) {
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			if c.short == "" || len(c.examples) == 0 {
				t.Errorf("command %q needs a short help and examples", c.name)
			}
			out, errOut, status := cli(t, nil, append(path[1:], "--help")...)
			if status != 0 || errOut != "" {
				t.Fatalf("status %d, stderr %q", status, errOut)
			}
			for _, want := range []string{"Usage: " + strings.Join(path, " "), "Examples:\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("help does not contain %q:\n%s", want, out)
				}
			}
			for _, s := range c.sub {
				if !strings.Contains(out, "  "+s.name+" ") {
					t.Errorf("help does not list %q:\n%s", s.name, out)
				}
			}
		})
		for _, s := range c.sub {
			walk(s, append(append([]string(nil), path...), s.name))
		}
	}
	walk(root, []string{"enforcer"})

	// "help CMD" is "CMD --help".
	viaHelp, _, _ := cli(t, nil, "help", "geoip", "update")
	viaFlag, _, _ := cli(t, nil, "geoip", "update", "--help")
	if viaHelp != viaFlag || !strings.Contains(viaFlag, "--unchanged-exit-code") {
		t.Errorf("help geoip update:\n%s\ngeoip update --help:\n%s", viaHelp, viaFlag)
	}
}

// mustCountryDB writes a small database and returns its path.
func mustCountryDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, path, []geoiptest.Entry{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Record: mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}}},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Record: geoiptest.CountryRecord("US")},
	}, geoiptest.Options{})
	return path
}

func TestGeoIPLookup(t *testing.T) {
	db := mustCountryDB(t)
	out, errOut, status := cli(t, nil, "geoip", "lookup", "--db", db, "192.0.2.1", "::ffff:198.51.100.9", "2001:db8::2", "203.0.113.1")
	if status != 0 || errOut != "" {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	want := `IP            COUNTRY  SOURCE              NETWORK
192.0.2.1     DE       country             192.0.2.0/24
198.51.100.9  FR       registered_country  198.51.100.0/24
2001:db8::2   US       country             2001:db8::/32
`
	lines := strings.SplitN(out, "\n", 5)
	if got := strings.Join(lines[:4], "\n") + "\n"; got != want {
		t.Errorf("output (-want +got):\n%s", cmp.Diff(want, got))
	}
	// 203.0.113.1 is in no network of the file: no country, some empty
	// network of the tree.
	if !strings.HasPrefix(lines[4], "203.0.113.1   -        none ") {
		t.Errorf("last line %q, want no country", lines[4])
	}
}

func TestGeoIPLookupJSON(t *testing.T) {
	db := mustCountryDB(t)
	out, errOut, status := cli(t, nil, "geoip", "lookup", "--json", "--db="+db, "198.51.100.9", "2001:db8::2")
	if status != 0 || errOut != "" {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array of objects: %v\n%s", err, out)
	}
	want := []map[string]string{
		{"ip": "198.51.100.9", "country": "FR", "source": "registered_country", "network": "198.51.100.0/24"},
		{"ip": "2001:db8::2", "country": "US", "source": "country", "network": "2001:db8::/32"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	db := mustCountryDB(t)
	corrupt := filepath.Join(t.TempDir(), "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	tests := []struct {
		name string
		args []string
		want string // in stderr, after "enforcer: "
	}{
		{"no command", nil, "no command given; run 'enforcer --help'"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"geoip", "frobnicate"}, `geoip: unknown command "frobnicate"; run 'enforcer geoip --help'`},
		{"unknown flag", []string{"geoip", "lookup", "--colour", "192.0.2.1"}, "geoip lookup: unknown flag: --colour; run 'enforcer geoip lookup --help'"},
		{"unknown flag on a group", []string{"--colour"}, "unknown flag --colour"},
		{"no address", []string{"geoip", "lookup", "--db", db}, "geoip lookup: no IP address given"},
		{"bad address", []string{"geoip", "lookup", "--db", db, "192.0.2.1", "192.0.2"}, `geoip lookup: argument 2, "192.0.2", is not an IP address`},
		{"missing database", []string{"geoip", "lookup", "--db", missing, "192.0.2.1"}, missing + ": no such file or directory; install it with 'enforcer geoip update' or name another file with --db"},
		{"corrupt database", []string{"geoip", "lookup", "--db", corrupt, "192.0.2.1"}, "geoip database " + corrupt + " is not a valid MaxMind DB file"},
		{"update argument", []string{"geoip", "update", "GeoLite2-Country"}, `geoip update: unexpected argument "GeoLite2-Country"`},
		{"bad unchanged code", []string{"geoip", "update", "--unchanged-exit-code", "1"}, "--unchanged-exit-code 1: use 0 or a code from 2 to 125"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, status := cli(t, nil, tc.args...)
			if status != 1 {
				t.Errorf("status %d, want 1", status)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "enforcer: ") || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr\n  %q\nwant one line \"enforcer: ...%s...\"", errOut, tc.want)
			}
		})
	}
}

// updateServer serves one edition over MaxMind's update protocol and
// counts downloads.
type updateServer struct {
	db        []byte
	mu        sync.Mutex
	downloads int
}

func (s *updateServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "42" || p != "secret" {
		http.Error(w, "bad credentials", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/geoip/updates/metadata":
		sum := md5.Sum(s.db)
		fmt.Fprintf(w, `{"databases":[{"edition_id":%q,"md5":%q,"date":"2024-01-02"}]}`,
			r.URL.Query().Get("edition_id"), hex.EncodeToString(sum[:]))
	case "/geoip/databases/GeoLite2-Country/download":
		s.mu.Lock()
		s.downloads++
		s.mu.Unlock()
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		tw := tar.NewWriter(gz)
		tw.WriteHeader(&tar.Header{Name: "GeoLite2-Country_20240102/GeoLite2-Country.mmdb", Mode: 0o644, Size: int64(len(s.db)), Typeflag: tar.TypeReg})
		tw.Write(s.db)
		tw.Close()
		gz.Close()
		w.Write(b.Bytes())
	default:
		http.NotFound(w, r)
	}
}

func TestGeoIPUpdate(t *testing.T) {
	db, err := os.ReadFile(mustCountryDB(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &updateServer{db: db}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	conf := filepath.Join(t.TempDir(), "GeoIP.conf")
	if err := os.WriteFile(conf, []byte("AccountID 42\nLicenseKey secret\nEditionIDs GeoLite2-Country\nDatabaseDirectory /nonexistent\nRetryFor 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hookOut := filepath.Join(t.TempDir(), "hook")
	vars := map[string]string{"GEOIPUPDATE_HOST": ts.URL}
	// A stand-in daemon on its admin socket counts reloads; refuse makes
	// it refuse them as a daemon does a database it cannot use.
	sock := filepath.Join(t.TempDir(), "admin.sock")
	var reloads atomic.Int32
	var refuse atomic.Bool
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != adminapi.PathGeoIPReload {
			http.NotFound(w, r)
			return
		}
		if refuse.Load() {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"geoip: database has no country data"}`)
			return
		}
		reloads.Add(1)
		fmt.Fprint(w, `{}`)
	})}
	go fake.Serve(ln)
	t.Cleanup(func() { fake.Close() })
	args := []string{"geoip", "update", "-f", conf, "-d", dir, "--unchanged-exit-code", "3", "--socket", sock,
		"--post-update-command", "echo \"$ENFORCER_UPDATED_EDITIONS\" >> " + hookOut}

	// First run: installs the database, runs the hook, exits 0 silently.
	out, errOut, status := cli(t, vars, args...)
	if status != 0 || out != "" || errOut != "" {
		t.Fatalf("first run: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	got, err := os.ReadFile(filepath.Join(dir, "GeoLite2-Country.mmdb"))
	if err != nil || !bytes.Equal(got, db) {
		t.Fatalf("installed database: %v (equal: %v)", err, bytes.Equal(got, db))
	}
	// The installed file is what lookup reads.
	if out, _, status := cli(t, nil, "geoip", "lookup", "--db", filepath.Join(dir, "GeoLite2-Country.mmdb"), "192.0.2.1"); status != 0 || !strings.Contains(out, "DE") {
		t.Errorf("lookup in the installed database: status %d, %q", status, out)
	}

	// Second run: nothing to do, no download, the unchanged status, no hook.
	out, errOut, status = cli(t, vars, args...)
	if status != 3 || out != "" || errOut != "" {
		t.Errorf("second run: status %d, stdout %q, stderr %q; want 3 and silence", status, out, errOut)
	}
	if srv.downloads != 1 {
		t.Errorf("%d downloads, want 1", srv.downloads)
	}
	hook, err := os.ReadFile(hookOut)
	if err != nil || string(hook) != "GeoLite2-Country\n" {
		t.Errorf("hook ran with %q (%v), want once with GeoLite2-Country", hook, err)
	}

	if n := reloads.Load(); n != 1 {
		t.Errorf("the daemon was told to reload %d times, want once (after the change only)", n)
	}

	// Verbose says what happened, on stderr.
	_, errOut, status = cli(t, vars, "geoip", "update", "-f", conf, "-d", dir, "-v", "--socket", sock)
	if status != 0 || !strings.Contains(errOut, "database is up to date") {
		t.Errorf("verbose run: status %d, stderr %q", status, errOut)
	}

	// No daemon running: the install is all there is to do, silently.
	_, errOut, status = cli(t, vars, "geoip", "update", "-f", conf, "-d", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if status != 0 || errOut != "" {
		t.Errorf("run without a daemon: status %d, stderr %q; want 0 and silence", status, errOut)
	}
	// --no-reload leaves the daemon alone.
	_, errOut, status = cli(t, vars, "geoip", "update", "-f", conf, "-d", t.TempDir(), "--socket", sock, "--no-reload")
	if status != 0 || errOut != "" || reloads.Load() != 1 {
		t.Errorf("--no-reload: status %d, stderr %q, %d reloads; want 0, silence, still 1", status, errOut, reloads.Load())
	}
	// A daemon that refuses the new database fails the run, saying the
	// file is installed and the daemon kept its own.
	refuse.Store(true)
	_, errOut, status = cli(t, vars, "geoip", "update", "-f", conf, "-d", t.TempDir(), "--socket", sock)
	if status != 1 || !strings.Contains(errOut, "the databases were installed, but the daemon did not reload") ||
		!strings.Contains(errOut, "no country data") {
		t.Errorf("refused reload: status %d, stderr %q", status, errOut)
	}
}

func TestGeoIPUpdateConfigErrors(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "GeoIP.conf")
	if err := os.WriteFile(conf, []byte("AccountID 42\nLicenseKey secret\nEditionIDs GeoLite2-Country\nLicenceKey typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"file and line", nil, []string{"geoip", "update", "-f", conf}, conf + `:4: unknown setting "LicenceKey"`},
		{"GEOIPUPDATE_CONF_FILE picks the file", map[string]string{"GEOIPUPDATE_CONF_FILE": conf}, []string{"geoip", "update"}, conf + ":4:"},
		{"environment only", map[string]string{"GEOIPUPDATE_CONF_FILE": "", "GEOIPUPDATE_ACCOUNT_ID": "x"}, []string{"geoip", "update"},
			`environment variable GEOIPUPDATE_ACCOUNT_ID: AccountID "x" is not a positive number`},
		{"missing file", nil, []string{"geoip", "update", "--config-file", conf + ".missing"}, conf + ".missing: cannot read configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, status := cli(t, tc.vars, tc.args...)
			if status != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("status %d, stderr %q; want 1 and %q", status, errOut, tc.want)
			}
		})
	}
}
