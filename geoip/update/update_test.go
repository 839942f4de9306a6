package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mailgate/enforcer/geoip/geoiptest"
)

const (
	testAccount = 42
	testKey     = "secret"
	testDate    = "2024-01-02"
)

var lastModified = time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)

// truncate in fakeServer.downloadStatus makes the server cut the download
// short after announcing its full length.
const truncate = -1

// fakeServer implements MaxMind's metadata and download endpoints.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// dbs are the .mmdb files served, by edition.
	dbs map[string][]byte
	// metadataStatus and downloadStatus are answered, one per request, in
	// place of the real response while they last.
	metadataStatus []int
	downloadStatus []int
	// archive, if set, replaces the tar.gz built around a database.
	archive func(mmdb []byte) []byte
	// md5, if set, is what metadata claims instead of the real MD5.
	md5 string
	// requests logs "metadata E" and "download E" in order.
	requests []string
}

func newFakeServer(t *testing.T, dbs map[string][]byte) *fakeServer {
	f := &fakeServer{t: t, dbs: dbs}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || user != strconv.Itoa(testAccount) || pass != testKey {
		f.requests = append(f.requests, "unauthorized")
		http.Error(w, `{"code":"AUTHORIZATION_INVALID","error":"Your account ID or license key could not be authenticated."}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/geoip/updates/metadata":
		edition := r.URL.Query().Get("edition_id")
		f.requests = append(f.requests, "metadata "+edition)
		if len(f.metadataStatus) > 0 {
			status := f.metadataStatus[0]
			f.metadataStatus = f.metadataStatus[1:]
			http.Error(w, "simulated failure", status)
			return
		}
		db, ok := f.dbs[edition]
		if !ok {
			http.Error(w, `{"code":"EDITION_NOT_FOUND"}`, http.StatusNotFound)
			return
		}
		sum := md5.Sum(db)
		m := hex.EncodeToString(sum[:])
		if f.md5 != "" {
			m = f.md5
		}
		json.NewEncoder(w).Encode(map[string]any{
			"databases": []map[string]string{{"edition_id": edition, "md5": m, "date": testDate}},
		})
	case strings.HasPrefix(r.URL.Path, "/geoip/databases/") && strings.HasSuffix(r.URL.Path, "/download"):
		edition := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/geoip/databases/"), "/download")
		f.requests = append(f.requests, "download "+edition)
		if q := r.URL.Query(); q.Get("date") != strings.ReplaceAll(testDate, "-", "") || q.Get("suffix") != "tar.gz" {
			http.Error(w, "bad query "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		db, ok := f.dbs[edition]
		if !ok {
			http.Error(w, "no such edition", http.StatusNotFound)
			return
		}
		body := tarGz(f.t, edition, db)
		if f.archive != nil {
			body = f.archive(db)
		}
		w.Header().Set("Last-Modified", lastModified.Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/gzip")
		if len(f.downloadStatus) > 0 {
			status := f.downloadStatus[0]
			f.downloadStatus = f.downloadStatus[1:]
			if status == truncate {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				// Abort the response: the client sees the connection close
				// before Content-Length bytes arrived.
				panic(http.ErrAbortHandler)
			}
			http.Error(w, "simulated failure", status)
			return
		}
		w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// tarGz packs db as MaxMind does: a dated directory with text files and
// the database.
func tarGz(tb testing.TB, edition string, db []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	dir := edition + "_" + strings.ReplaceAll(testDate, "-", "") + "/"
	add := func(name string, content []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: dir + name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(content); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		tb.Fatal(err)
	}
	add("COPYRIGHT.txt", []byte("Database and Contents Copyright (c) test\n"))
	add(edition+".mmdb", db)
	add("LICENSE.txt", []byte("test licence\n"))
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	gz.Write(data)
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// mustDB writes a country database built at built and returns its bytes.
func mustDB(tb testing.TB, dbType, country string, built time.Time) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "db.mmdb")
	rec := mmdbtype.DataType(geoiptest.CountryRecord(country))
	if country == "" {
		rec = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496)}
	}
	geoiptest.Write(tb, path, []geoiptest.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: rec}},
		geoiptest.Options{DatabaseType: dbType, BuildTime: built})
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustUpdater returns an Updater for a test server with fast retries.
func mustUpdater(tb testing.TB, host, dir string, retryFor time.Duration, editions ...string) *Updater {
	tb.Helper()
	cfg := &Config{
		AccountID: testAccount, LicenseKey: testKey, EditionIDs: editions,
		DatabaseDirectory: dir, Host: host, LockFile: filepath.Join(dir, LockFileName),
		RetryFor: retryFor, Parallelism: 1,
	}
	u := New(cfg, slog.New(slog.NewTextHandler(tlogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	u.firstBackoff, u.maxBackoff = 5*time.Millisecond, 20*time.Millisecond
	return u
}

type tlogWriter struct{ tb testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dirFiles returns the files in dir except the lock file.
func dirFiles(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Name() == LockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func writeFiles(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// sameFiles compares directory contents by name and MD5, to keep diffs of
// binary files readable.
func sameFiles(want, got map[string][]byte) string {
	sums := func(m map[string][]byte) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			s := md5.Sum(v)
			out[k] = hex.EncodeToString(s[:])
		}
		return out
	}
	return cmp.Diff(sums(want), sums(got))
}

func TestRun(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	older := mustDB(t, "GeoLite2-Country", "SE", t0)
	old := mustDB(t, "GeoLite2-Country", "DE", t0.Add(24*time.Hour))
	current := mustDB(t, "GeoLite2-Country", "FR", t0.Add(48*time.Hour))
	city := mustDB(t, "GeoLite2-City", "JP", t0.Add(48*time.Hour))
	asn := mustDB(t, "GeoLite2-ASN", "", t0.Add(48*time.Hour))
	const country = "GeoLite2-Country.mmdb"

	tests := []struct {
		name     string
		editions []string
		serve    map[string][]byte
		setup    func(*fakeServer)
		retryFor time.Duration
		before   map[string][]byte // files in the directory before the run
		after    map[string][]byte // files after; nil: same as before
		changed  []string          // editions changed
		wantErr  string            // "" for success
		requests []string
	}{
		{
			name:  "fresh install",
			serve: map[string][]byte{"GeoLite2-Country": current},
			after: map[string][]byte{country: current}, changed: []string{"GeoLite2-Country"},
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "unchanged: no download",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			before: map[string][]byte{country: current},
			// The assertion that matters: no download request.
			requests: []string{"metadata GeoLite2-Country"},
		},
		{
			name:   "update keeps the previous file",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			before: map[string][]byte{country: old, country + ".prev": older},
			after:  map[string][]byte{country: current, country + ".prev": old}, changed: []string{"GeoLite2-Country"},
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "damaged installed file is replaced",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			before: map[string][]byte{country: old[:100]},
			after:  map[string][]byte{country: current, country + ".prev": old[:100]}, changed: []string{"GeoLite2-Country"},
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:  "corrupt tar",
			serve: map[string][]byte{"GeoLite2-Country": current},
			setup: func(f *fakeServer) {
				f.archive = func([]byte) []byte { return gzipOf(t, bytes.Repeat([]byte("not a tar header "), 64)) }
			},
			before: map[string][]byte{country: old}, wantErr: "corrupt tar archive",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "not gzip",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			setup:  func(f *fakeServer) { f.archive = func(db []byte) []byte { return db } },
			before: map[string][]byte{country: old}, wantErr: "not a gzip archive",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:  "archive without a database",
			serve: map[string][]byte{"GeoLite2-Country": current},
			setup: func(f *fakeServer) {
				f.archive = func([]byte) []byte {
					var b bytes.Buffer
					gz := gzip.NewWriter(&b)
					tw := tar.NewWriter(gz)
					tw.WriteHeader(&tar.Header{Name: "README.txt", Size: 2, Mode: 0o644, Typeflag: tar.TypeReg})
					tw.Write([]byte("hi"))
					tw.Close()
					gz.Close()
					return b.Bytes()
				}
			},
			before: map[string][]byte{country: old}, wantErr: "the archive holds no .mmdb file",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "truncated download",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			setup:  func(f *fakeServer) { f.downloadStatus = []int{truncate, truncate, truncate} },
			before: map[string][]byte{country: old}, wantErr: "download GeoLite2-Country",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:     "truncated download retried",
			serve:    map[string][]byte{"GeoLite2-Country": current},
			setup:    func(f *fakeServer) { f.downloadStatus = []int{truncate} },
			retryFor: 10 * time.Second,
			before:   map[string][]byte{country: old},
			after:    map[string][]byte{country: current, country + ".prev": old}, changed: []string{"GeoLite2-Country"},
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country", "metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "checksum mismatch",
			serve:  map[string][]byte{"GeoLite2-Country": current},
			setup:  func(f *fakeServer) { f.md5 = strings.Repeat("ab", 16) },
			before: map[string][]byte{country: old}, wantErr: "the server's metadata says abab",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "database that does not open",
			serve:  map[string][]byte{"GeoLite2-Country": current[:len(current)-40]},
			before: map[string][]byte{country: old}, wantErr: "is not usable, nothing was installed: geoip database",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:   "older than installed",
			serve:  map[string][]byte{"GeoLite2-Country": older},
			before: map[string][]byte{country: old}, wantErr: "older than the installed one",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:     "edition without country data is installed",
			editions: []string{"GeoLite2-ASN"},
			serve:    map[string][]byte{"GeoLite2-ASN": asn},
			after:    map[string][]byte{"GeoLite2-ASN.mmdb": asn}, changed: []string{"GeoLite2-ASN"},
			requests: []string{"metadata GeoLite2-ASN", "download GeoLite2-ASN"},
		},
		{
			name:     "unknown edition",
			editions: []string{"GeoLite2-Nope", "GeoLite2-City"},
			serve:    map[string][]byte{"GeoLite2-City": city},
			after:    map[string][]byte{"GeoLite2-City.mmdb": city}, changed: []string{"GeoLite2-City"},
			wantErr:  "HTTP 404 Not Found",
			requests: []string{"metadata GeoLite2-Nope", "metadata GeoLite2-City", "download GeoLite2-City"},
		},
		{
			name:     "429 ends the run without retry",
			editions: []string{"GeoLite2-Country", "GeoLite2-City"},
			serve:    map[string][]byte{"GeoLite2-Country": current, "GeoLite2-City": city},
			setup:    func(f *fakeServer) { f.metadataStatus = []int{http.StatusTooManyRequests} },
			retryFor: 10 * time.Second,
			before:   map[string][]byte{country: old}, wantErr: "HTTP 429 Too Many Requests: simulated failure; the server limits downloads",
			requests: []string{"metadata GeoLite2-Country"},
		},
		{
			name:     "5xx then success",
			serve:    map[string][]byte{"GeoLite2-Country": current},
			setup:    func(f *fakeServer) { f.metadataStatus = []int{500, 503}; f.downloadStatus = []int{502} },
			retryFor: 10 * time.Second,
			before:   map[string][]byte{country: old},
			after:    map[string][]byte{country: current, country + ".prev": old}, changed: []string{"GeoLite2-Country"},
			requests: []string{"metadata GeoLite2-Country", "metadata GeoLite2-Country", "metadata GeoLite2-Country",
				"download GeoLite2-Country", "metadata GeoLite2-Country", "download GeoLite2-Country"},
		},
		{
			name:  "5xx beyond RetryFor",
			serve: map[string][]byte{"GeoLite2-Country": current},
			setup: func(f *fakeServer) {
				f.metadataStatus = []int{500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500}
			},
			retryFor: 30 * time.Millisecond,
			before:   map[string][]byte{country: old}, wantErr: "gave up after",
		},
		{
			name:     "one edition fails, the next is updated",
			editions: []string{"GeoLite2-Country", "GeoLite2-City"},
			serve:    map[string][]byte{"GeoLite2-Country": []byte("garbage"), "GeoLite2-City": city},
			before:   map[string][]byte{country: old},
			after:    map[string][]byte{country: old, "GeoLite2-City.mmdb": city}, changed: []string{"GeoLite2-City"},
			wantErr:  "update GeoLite2-Country: downloaded GeoLite2-Country is not usable",
			requests: []string{"metadata GeoLite2-Country", "download GeoLite2-Country", "metadata GeoLite2-City", "download GeoLite2-City"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.serve)
			if tc.setup != nil {
				tc.setup(srv)
			}
			dir := t.TempDir()
			writeFiles(t, dir, tc.before)
			editions := tc.editions
			if editions == nil {
				editions = []string{"GeoLite2-Country"}
			}
			res, err := mustUpdater(t, srv.srv.URL, dir, tc.retryFor, editions...).Run(context.Background())
			if err != nil {
				t.Logf("Run error: %v", err)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Run succeeded, want an error with %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Run error\n  %v\ndoes not contain\n  %s", err, tc.wantErr)
			}
			var changed []string
			for _, e := range res.Changed() {
				changed = append(changed, e.EditionID)
			}
			if diff := cmp.Diff(tc.changed, changed); diff != "" {
				t.Errorf("changed editions (-want +got):\n%s", diff)
			}
			after := tc.after
			if after == nil {
				after = tc.before
			}
			if after == nil {
				after = map[string][]byte{}
			}
			// No partial file, no temporary file, the old file intact.
			if diff := sameFiles(after, dirFiles(t, dir)); diff != "" {
				t.Errorf("directory after the run (-want +got md5s):\n%s", diff)
			}
			if tc.requests != nil {
				if diff := cmp.Diff(tc.requests, srv.log()); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRunBadCredentials(t *testing.T) {
	srv := newFakeServer(t, map[string][]byte{})
	dir := t.TempDir()
	u := mustUpdater(t, srv.srv.URL, dir, 10*time.Second, "GeoLite2-Country", "GeoLite2-City")
	u.client.licenseKey = "wrong"
	_, err := u.Run(context.Background())
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Run error %v, want HTTP 401", err)
	}
	if !strings.Contains(err.Error(), "check AccountID and LicenseKey") {
		t.Errorf("error %q does not say what to check", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the license key", err)
	}
	// Neither retried nor tried for the second edition.
	if diff := cmp.Diff([]string{"unauthorized"}, srv.log()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestRunLockHeld(t *testing.T) {
	current := mustDB(t, "GeoLite2-Country", "FR", time.Now())
	srv := newFakeServer(t, map[string][]byte{"GeoLite2-Country": current})
	dir := t.TempDir()
	u := mustUpdater(t, srv.srv.URL, dir, 0, "GeoLite2-Country")

	// flock locks belong to an open file description, so a second open in
	// this process conflicts just as another process would.
	held, err := acquireLock(u.cfg.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Run(context.Background())
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Path != u.cfg.LockFile {
		t.Fatalf("Run with the lock held: %v, want *LockedError with pid %d", err, os.Getpid())
	}
	if got := srv.log(); len(got) != 0 {
		t.Errorf("requests while locked out: %v", got)
	}
	if err := held.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Run(context.Background()); err != nil {
		t.Fatalf("Run after the lock was released: %v", err)
	}
	// And Run releases it too.
	again, err := acquireLock(u.cfg.LockFile)
	if err != nil {
		t.Fatalf("lock after Run: %v", err)
	}
	again.release()
}

func TestRunPreserveFileTimes(t *testing.T) {
	current := mustDB(t, "GeoLite2-Country", "FR", time.Now())
	srv := newFakeServer(t, map[string][]byte{"GeoLite2-Country": current})
	dir := t.TempDir()
	u := mustUpdater(t, srv.srv.URL, dir, 0, "GeoLite2-Country")
	u.cfg.PreserveFileTimes = true
	if _, err := u.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "GeoLite2-Country.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(lastModified) {
		t.Errorf("mtime %v, want Last-Modified %v", fi.ModTime(), lastModified)
	}
}

func TestRunHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	changed := []EditionResult{{EditionID: "GeoLite2-Country", Path: "/x/GeoLite2-Country.mmdb"}, {EditionID: "GeoLite2-City", Path: "/x/GeoLite2-City.mmdb"}}
	cmd := fmt.Sprintf(`printf '%%s|%%s' "$ENFORCER_UPDATED_EDITIONS" "$ENFORCER_UPDATED_FILES" > %s`, out)
	if err := RunHook(context.Background(), cmd, changed, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "GeoLite2-Country GeoLite2-City|/x/GeoLite2-Country.mmdb /x/GeoLite2-City.mmdb"; string(got) != want {
		t.Errorf("hook saw %q, want %q", got, want)
	}
	err = RunHook(context.Background(), "exit 3", changed, os.Stdout, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "reload the daemon by hand") {
		t.Errorf("failing hook: %v", err)
	}
}
