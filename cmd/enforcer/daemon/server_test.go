package daemon

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	d.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathReload, nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	msg := body["error"]
	if rec.Code != http.StatusBadRequest || strings.HasPrefix(msg, "reload") || !strings.Contains(msg, "none.yaml: no such file or directory (the previous configuration stays in force)") {
		t.Errorf("POST %s: %d %q; want 400 with the cause and no \"reload\" prefix", PathReload, rec.Code, msg)
	}
}
