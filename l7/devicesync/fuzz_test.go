package devicesync

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

// FuzzPushAPI feeds arbitrary requests, with a valid token, to the push
// API: it must never panic, must answer with a status of its documented
// set, and after every request, accepted or not, the store in memory must
// be what Load reads from the file.
func FuzzPushAPI(f *testing.F) {
	seeds := []struct {
		method, path, body string
	}{
		{"PUT", "/v1/devices/Dev1", `{"user":"jane@contoso.com","managed":true,"compromised":"no","encrypted":"yes","last_check_in":"2024-05-01T10:00:00Z","override":"blacklist","updated":"2024-05-01T11:00:00Z"}`},
		{"PUT", "/v1/devices/dev1", `{"model":"older","updated":"2024-04-01T11:00:00Z"}`},
		{"DELETE", "/v1/devices/DEV1?deleted=2024-05-01T11:30:00Z", ""},
		{"GET", "/v1/devices/dev1", ""},
		{"POST", "/v1/devices/bulk", `{"upsert":[{"device_id":"a"},{"device_id":"b","updated":"2024-05-01T09:00:00Z"}],"delete":["c",{"device_id":"a","deleted":"2024-05-01T08:00:00Z"}],"replace":true,"time":"2024-05-01T10:00:00Z"}`},
		{"POST", "/v1/devices/bulk", `{"policy":{"revision":"x","rules":[{"characteristic":"UserAgent","query":"Outlook*","access":"block"}]}}`},
		{"PUT", "/v1/policy", `{"revision":"r1","managed_only":true,"inactivity_days":30,"allowed_os":[{"platform":"Apple","min":"16","max":"17.4"}],"default_access":"quarantine"}`},
		{"PUT", "/v1/policy", `{"revision":"r0","updated":"2024-01-01T00:00:00Z"}`},
		{"GET", "/v1/policy", ""},
		{"PATCH", "/v1/devices/x", `{}`},
		{"PUT", "/v1/devices/%41%2f", `{"device_id":"a/"}`},
		{"PUT", "/v1/devices/%FE%2f", `{}`},
		{"PUT", "/v1/devices/%FF%2f", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, []byte(s.body), true)
	}
	f.Add("PUT", "/v1/devices/x", []byte(`{}`), false)

	dir := f.TempDir()
	var (
		n  int
		db *DB
		st *device.Store
		h  http.Handler
	)
	reset := func(tb testing.TB) {
		if db != nil {
			db.Close()
		}
		var err error
		db, err = Open(filepath.Join(dir, strconv.Itoa(n)+".db"), Options{noSync: true, Now: func() time.Time { return t0 }})
		if err != nil {
			tb.Fatal(err)
		}
		st = device.NewStore(device.StoreOptions{})
		h = NewPushHandler(db, st, PushOptions{Tokens: [][]byte{[]byte(testToken)}, MaxBodyBytes: 4096, MaxBulkBytes: 16384,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	f.Cleanup(func() {
		if db != nil {
			db.Close()
		}
	})

	f.Fuzz(func(t *testing.T, method, path string, body []byte, jsonType bool) {
		// A fresh file now and then, so that the state stays small
		// enough to compare after every request.
		if n%200 == 0 {
			reset(t)
		}
		n++
		u, err := url.ParseRequestURI(path)
		if err != nil || method == "" {
			return // net/http would not hand such a request to a handler
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL, r.RequestURI = method, u, path
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Authorization", "Bearer "+testToken)
		if jsonType {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		switch w.Code {
		case 200, 400, 404, 405, 413, 415:
		default:
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, w.Code, w.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s %q: status %d with a body that is not a JSON object: %q", method, path, body, w.Code, w.Body)
		}
		if _, ok := v["error"]; ok != (w.Code != 200) {
			t.Fatalf("%s %s %q: status %d with body %s", method, path, body, w.Code, w.Body)
		}
		assertInStep(t, db, st)
	})
}
