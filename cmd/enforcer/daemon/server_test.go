package daemon

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/policy/store"
)

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{7396 * time.Hour, "308 days"},
		{48 * time.Hour, "2 days"},
		{47*time.Hour + 59*time.Minute, "47 h"},
		{3 * time.Hour, "3 h"},
		{59 * time.Minute, "59 min"},
		{0, "0 min"},
	}
	for _, tc := range tests {
		if got := Age(tc.d); got != tc.want {
			t.Errorf("Age(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestReloadError: the admin API's reload error does not repeat the
// "reload:" the CLI puts in front of it.
func TestReloadError(t *testing.T) {
	d := &Daemon{opts: Options{ConfigPath: filepath.Join(t.TempDir(), "none.yaml")}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	d.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, adminapi.PathReload, nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	msg := body["error"]
	if rec.Code != http.StatusBadRequest || strings.HasPrefix(msg, "reload") || !strings.Contains(msg, "none.yaml: no such file or directory (the previous configuration stays in force)") {
		t.Errorf("POST %s: %d %q; want 400 with the cause and no \"reload\" prefix", adminapi.PathReload, rec.Code, msg)
	}
}

// TestStoreCountries: country changes behave like allowlist entries, and
// adding a country of the file back clears an old removal of it.
func TestStoreCountries(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &Daemon{opts: Options{ConfigPath: "/etc/enforcer/enforcer.yaml"}, st: st}
	svc := &config.Service{Name: "imap", Countries: []string{"AT", "DE"}, Geofence: true}
	refresh := func() {
		t.Helper()
		if d.now.state, err = st.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	// An older enforcer's `country remove DE`.
	if _, err := st.RemoveCountries("imap", []string{"DE"}); err != nil {
		t.Fatal(err)
	}
	refresh()
	steps := []struct {
		add     bool
		codes   []string
		changed int
		err     string
		added   []string
		removed []string
	}{
		{add: false, codes: []string{"AT"}, err: "AT comes from /etc/enforcer/enforcer.yaml; remove it there", removed: []string{"DE"}},
		{add: true, codes: []string{"AT"}, err: "AT is already in /etc/enforcer/enforcer.yaml; nothing to add", removed: []string{"DE"}},
		{add: true, codes: []string{"DE", "KP"}, changed: 2, added: []string{"KP"}},
		{add: false, codes: []string{"KP", "FR"}, changed: 1},
	}
	for i, s := range steps {
		n, err := d.storeCountries(s.add, svc, s.codes)
		if s.err != "" {
			if err == nil || !strings.Contains(err.Error(), s.err) {
				t.Fatalf("step %d: %v, want %q", i, err, s.err)
			}
		} else if err != nil || n != s.changed {
			t.Fatalf("step %d: %d, %v; want %d changed", i, n, err, s.changed)
		}
		refresh()
		o := d.now.state.Countries["imap"]
		if !slices.Equal(o.Added, s.added) || !slices.Equal(o.Removed, s.removed) {
			t.Fatalf("step %d: overrides %+v, want added %v removed %v", i, o, s.added, s.removed)
		}
	}
}
