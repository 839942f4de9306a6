package devicesync

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
)

const testToken = "s3cret-token-for-tests"

type pushEnv struct {
	db  *DB
	st  *device.Store
	h   http.Handler
	log *bytes.Buffer
}

func newPushEnv(tb testing.TB, opts PushOptions) *pushEnv {
	tb.Helper()
	db, st := mustTempDB(tb)
	var log bytes.Buffer
	if opts.Tokens == nil {
		opts.Tokens = [][]byte{[]byte("other-token"), []byte(testToken)}
	}
	opts.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &pushEnv{db: db, st: st, h: NewPushHandler(db, st, opts), log: &log}
}

func (e *pushEnv) do(method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func TestPushAPI(t *testing.T) {
	type req struct {
		method, path, body string
		hdr                map[string]string
	}
	tests := []struct {
		name       string
		opts       PushOptions
		before     []req // must answer 200
		req        req
		wantStatus int
		wantBody   string // substring of the body
		check      func(t *testing.T, e *pushEnv)
	}{
		{name: "put device", req: req{"PUT", "/v1/devices/Dev1", `{"user":"jane@contoso.com","managed":true,"compromised":"no","encrypted":"yes","platform":"Apple","model":"iPhone 15","os_version":"17.4","last_check_in":"2024-05-01T11:00:00+02:00","eas_profile":true,"override":"whitelist","updated":"2024-05-01T11:59:00Z"}`, nil},
			wantStatus: 200, wantBody: `{"upserted":1,"deleted":0,"stale":0,"unchanged":0}`,
			check: func(t *testing.T, e *pushEnv) {
				want := device.Record{DeviceID: "Dev1", User: "jane@contoso.com", Managed: true, Compromised: device.No, Encrypted: device.Yes,
					Platform: "Apple", Model: "iPhone 15", OSVersion: "17.4", LastCheckIn: at(-180), EASProfile: true, Override: device.OverrideWhitelist, Updated: at(-1)}
				if diff := cmp.Diff(&want, e.st.Lookup("dev1")); diff != "" {
					t.Errorf("record (-want +got):\n%s", diff)
				}
			}},
		{name: "put device escaped id", req: req{"PUT", "/v1/devices/a%2Fb", `{"device_id":"A/B"}`, nil}, wantStatus: 200,
			check: func(t *testing.T, e *pushEnv) {
				if e.st.Lookup("a/b") == nil {
					t.Error("no record for a/b")
				}
			}},
		{name: "device id not UTF-8", req: req{"PUT", "/v1/devices/%FE%2F", `{}`, nil}, wantStatus: 400, wantBody: `device id in path: not valid UTF-8`},
		{name: "device id not UTF-8 in bulk", req: req{"POST", "/v1/devices/bulk", "{\"upsert\":[{\"device_id\":\"a\xff\"}]}", nil}, wantStatus: 400, wantBody: `not valid UTF-8`},
		{name: "device id control character", req: req{"PUT", "/v1/devices/a%0Ab", `{}`, nil}, wantStatus: 400, wantBody: `device id in path: contains a control character`},
		{name: "put device id mismatch", req: req{"PUT", "/v1/devices/a", `{"device_id":"b"}`, nil}, wantStatus: 400, wantBody: `device_id: \"b\" does not match \"a\"`},
		{name: "unknown field", req: req{"PUT", "/v1/devices/a", `{"colour":"red"}`, nil}, wantStatus: 400, wantBody: `unknown field \"colour\"`},
		{name: "wrong type", req: req{"PUT", "/v1/devices/a", `{"managed":"yes"}`, nil}, wantStatus: 400, wantBody: `field managed: JSON string where true or false was expected`},
		{name: "bad fact", req: req{"PUT", "/v1/devices/a", `{"compromised":"maybe"}`, nil}, wantStatus: 400, wantBody: `want yes, no or empty`},
		{name: "bad json", req: req{"PUT", "/v1/devices/a", `{"user":`, nil}, wantStatus: 400, wantBody: `truncated JSON`},
		{name: "trailing data", req: req{"PUT", "/v1/devices/a", `{} {}`, nil}, wantStatus: 400, wantBody: `trailing data`},
		{name: "future record", req: req{"PUT", "/v1/devices/a", `{"updated":"2030-01-01T00:00:00Z"}`, nil}, wantStatus: 400, wantBody: `upsert[0] (device \"a\"): updated: 2030-01-01T00:00:00Z is more than 1h0m0s in the future`},
		{name: "content type", req: req{"PUT", "/v1/devices/a", `{}`, map[string]string{"Content-Type": "text/plain"}}, wantStatus: 415},
		{name: "content type with charset", req: req{"PUT", "/v1/devices/a", `{}`, map[string]string{"Content-Type": "application/json; charset=utf-8"}}, wantStatus: 200},
		{name: "body too large", opts: PushOptions{MaxBodyBytes: 64}, req: req{"PUT", "/v1/devices/a", `{"model":"` + strings.Repeat("x", 100) + `"}`, nil}, wantStatus: 413},
		{name: "body too large unknown length", opts: PushOptions{MaxBodyBytes: 64}, req: req{"PUT", "/v1/devices/a", `{"model":"` + strings.Repeat("x", 100) + `"}`, map[string]string{"Content-Length": ""}}, wantStatus: 413},
		{name: "stale update", before: []req{{"PUT", "/v1/devices/a", `{"model":"new","updated":"2024-05-01T11:00:00Z"}`, nil}},
			req: req{"PUT", "/v1/devices/A", `{"model":"old","updated":"2024-05-01T10:00:00Z"}`, nil}, wantStatus: 200, wantBody: `"stale":1`,
			check: func(t *testing.T, e *pushEnv) {
				if m := e.st.Lookup("a").Model; m != "new" {
					t.Errorf("model %q after a stale update", m)
				}
			}},
		{name: "delete", before: []req{{"PUT", "/v1/devices/a", `{"updated":"2024-05-01T10:00:00Z"}`, nil}},
			req: req{"DELETE", "/v1/devices/A?deleted=2024-05-01T11:00:00Z", "", nil}, wantStatus: 200, wantBody: `"deleted":1`,
			check: func(t *testing.T, e *pushEnv) {
				if e.st.Lookup("a") != nil {
					t.Error("record still there")
				}
			}},
		{name: "tombstone stops resurrection", before: []req{
			{"PUT", "/v1/devices/a", `{"updated":"2024-05-01T10:00:00Z"}`, nil},
			{"DELETE", "/v1/devices/a?deleted=2024-05-01T11:00:00Z", "", nil}},
			req: req{"PUT", "/v1/devices/a", `{"updated":"2024-05-01T10:30:00Z"}`, nil}, wantStatus: 200, wantBody: `"stale":1`,
			check: func(t *testing.T, e *pushEnv) {
				if e.st.Lookup("a") != nil {
					t.Error("deleted device resurrected by an older upsert")
				}
			}},
		{name: "delete bad time", req: req{"DELETE", "/v1/devices/a?deleted=yesterday", "", nil}, wantStatus: 400, wantBody: "RFC 3339"},
		{name: "get device", before: []req{{"PUT", "/v1/devices/Dev9", `{"model":"m","updated":"2024-05-01T10:00:00Z"}`, nil}},
			req: req{"GET", "/v1/devices/dev9", "", nil}, wantStatus: 200,
			wantBody: `{"record":{"device_id":"Dev9","model":"m","updated":"2024-05-01T10:00:00Z"},"effective":{"device_id":"Dev9","model":"m","updated":"2024-05-01T10:00:00Z"}}`},
		{name: "get deleted device", before: []req{{"DELETE", "/v1/devices/gone?deleted=2024-05-01T10:00:00Z", "", nil}},
			req: req{"GET", "/v1/devices/gone", "", nil}, wantStatus: 200, wantBody: `{"record":null,"deleted":"2024-05-01T10:00:00Z","effective":null}`},
		{name: "get missing device", req: req{"GET", "/v1/devices/nope", "", nil}, wantStatus: 404, wantBody: `{"error":"no device \"nope\""}`},
		{name: "bulk", before: []req{{"PUT", "/v1/devices/old", `{"updated":"2024-05-01T09:00:00Z"}`, nil}, {"PUT", "/v1/devices/gone", `{"updated":"2024-05-01T09:00:00Z"}`, nil}},
			req:        req{"POST", "/v1/devices/bulk", `{"upsert":[{"device_id":"x","updated":"2024-05-01T10:00:00Z"},{"device_id":"old","updated":"2024-05-01T08:00:00Z"}],"delete":["gone",{"device_id":"y","deleted":"2024-05-01T10:00:00Z"}],"policy":{"revision":"p1","managed_only":true}}`, nil},
			wantStatus: 200, wantBody: `{"upserted":1,"deleted":1,"stale":1,"unchanged":1,"policy":"updated"}`,
			check: func(t *testing.T, e *pushEnv) {
				if e.st.Lookup("x") == nil || e.st.Lookup("gone") != nil || !e.st.Policy().Loaded() {
					t.Errorf("after bulk: %v", records(e.st))
				}
			}},
		{name: "bulk replace", before: []req{{"PUT", "/v1/devices/a", `{"updated":"2024-05-01T09:00:00Z"}`, nil}, {"PUT", "/v1/devices/b", `{"updated":"2024-05-01T09:00:00Z"}`, nil}},
			req:        req{"POST", "/v1/devices/bulk", `{"upsert":[{"device_id":"c","updated":"2024-05-01T10:00:00Z"}],"replace":true,"time":"2024-05-01T10:00:00Z"}`, nil},
			wantStatus: 200, wantBody: `{"upserted":1,"deleted":2,"stale":0,"unchanged":0}`,
			check: func(t *testing.T, e *pushEnv) {
				if len(records(e.st)) != 1 {
					t.Errorf("after replace: %v", records(e.st))
				}
			}},
		{name: "bulk invalid names the record", req: req{"POST", "/v1/devices/bulk", `{"upsert":[{"device_id":"ok"},{"device_id":"bad","override":"maybe"}]}`, nil}, wantStatus: 400, wantBody: `override \"maybe\"`},
		{name: "bulk invalid record whole refused", req: req{"POST", "/v1/devices/bulk", `{"upsert":[{"device_id":"ok"},{"device_id":""}]}`, nil}, wantStatus: 400, wantBody: `upsert[1]: device_id: empty`, check: func(t *testing.T, e *pushEnv) {
			if e.st.Len() != 0 {
				t.Error("part of a refused change applied")
			}
		}},
		{name: "bulk too large", opts: PushOptions{MaxBulkBytes: 100}, req: req{"POST", "/v1/devices/bulk", `{"upsert":[` + strings.Repeat(`{"device_id":"x"},`, 20) + `{"device_id":"y"}]}`, nil}, wantStatus: 413},
		{name: "put policy", req: req{"PUT", "/v1/policy", `{"revision":"r1","managed_only":true,"allowed_os":[{"platform":"Apple","min":"16"}],"rules":[{"characteristic":"DeviceType","query":"Android*","access":"quarantine"}],"default_access":"block","test_mode":false}`, nil},
			wantStatus: 200, wantBody: `"policy":"updated"`,
			check: func(t *testing.T, e *pushEnv) {
				cfg := e.st.Policy().Config()
				if cfg.Revision != "r1" || cfg.DefaultAccess != device.Block || len(cfg.Rules) != 1 || cfg.Rules[0].Access != device.Quarantine {
					t.Errorf("policy in force: %+v", cfg)
				}
			}},
		{name: "put invalid policy", req: req{"PUT", "/v1/policy", `{"revision":"r1","allowed_os":[{"platform":"Apple","min":"sixteen"}]}`, nil}, wantStatus: 400, wantBody: `policy: allowed_os[0].min: \"sixteen\": not a version`},
		{name: "put policy unknown field", req: req{"PUT", "/v1/policy", `{"revision":"r1","allowed_oses":[]}`, nil}, wantStatus: 400, wantBody: `unknown field \"allowed_oses\"`},
		{name: "get policy", before: []req{{"PUT", "/v1/policy", `{"revision":"r2","updated":"2024-05-01T10:00:00Z"}`, nil}}, req: req{"GET", "/v1/policy", "", nil}, wantStatus: 200, wantBody: `{"revision":"r2","updated":"2024-05-01T10:00:00Z"}`},
		{name: "get no policy", req: req{"GET", "/v1/policy", "", nil}, wantStatus: 404},
		{name: "override survives push", before: []req{{"PUT", "/v1/devices/a", `{"updated":"2024-05-01T09:00:00Z"}`, nil}},
			req: req{"PUT", "/v1/devices/a", `{"override":"whitelist","updated":"2024-05-01T10:00:00Z"}`, nil}, wantStatus: 200,
			check: func(t *testing.T, e *pushEnv) {
				if got := e.st.Lookup("a").Override; got != device.OverrideBlacklist {
					t.Errorf("effective override %v, want the administrator's blacklist", got)
				}
			}},
		{name: "no token", req: req{"GET", "/v1/policy", "", map[string]string{"Authorization": ""}}, wantStatus: 401, wantBody: "authentication required"},
		{name: "wrong token", req: req{"PUT", "/v1/devices/a", `{}`, map[string]string{"Authorization": "Bearer nope"}}, wantStatus: 401,
			check: func(t *testing.T, e *pushEnv) {
				if e.st.Len() != 0 {
					t.Error("unauthenticated change applied")
				}
			}},
		{name: "basic auth", req: req{"GET", "/v1/policy", "", map[string]string{"Authorization": "Basic " + testToken}}, wantStatus: 401},
		{name: "token prefix", req: req{"GET", "/v1/policy", "", map[string]string{"Authorization": "Bearer " + testToken[:5]}}, wantStatus: 401},
		{name: "other token", req: req{"GET", "/v1/devices/x", "", map[string]string{"Authorization": "bearer other-token"}}, wantStatus: 404},
		{name: "no tokens configured", opts: PushOptions{Tokens: [][]byte{}}, req: req{"GET", "/v1/policy", "", nil}, wantStatus: 401},
		{name: "method on device", req: req{"POST", "/v1/devices/a", `{}`, nil}, wantStatus: 405},
		{name: "method on policy", req: req{"DELETE", "/v1/policy", "", nil}, wantStatus: 405},
		{name: "unknown route", req: req{"GET", "/v1/other", "", nil}, wantStatus: 404},
		{name: "empty id", req: req{"GET", "/v1/devices/", "", nil}, wantStatus: 404},
		{name: "nested path", req: req{"GET", "/v1/devices/a/b", "", nil}, wantStatus: 404},
		{name: "blank id", req: req{"PUT", "/v1/devices/%20", `{}`, nil}, wantStatus: 400, wantBody: "device id in path: empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newPushEnv(t, tc.opts)
			for i, b := range tc.before {
				if w := e.do(b.method, b.path, b.body, b.hdr); w.Code != 200 {
					t.Fatalf("before[%d]: %d %s", i, w.Code, w.Body)
				}
				if tc.name == "override survives push" {
					if err := e.db.SetOverride(e.st, "a", device.OverrideBlacklist); err != nil {
						t.Fatal(err)
					}
				}
			}
			w := e.do(tc.req.method, tc.req.path, tc.req.body, tc.req.hdr)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var v map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Errorf("body is not a JSON object: %v: %s", err, w.Body)
			}
			if w.Code >= 400 {
				if msg, _ := v["error"].(string); msg == "" {
					t.Errorf("error body without an error message: %s", w.Body)
				}
			}
			if !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("body %s\ndoes not contain %s", w.Body, tc.wantBody)
			}
			switch w.Code {
			case 401:
				chal := w.Header().Get("WWW-Authenticate")
				if !strings.HasPrefix(chal, "Bearer ") {
					t.Errorf("WWW-Authenticate %q", chal)
				}
				auth, set := tc.req.hdr["Authorization"]
				if !set {
					auth = "Bearer " + testToken
				}
				if presented := strings.HasPrefix(auth, "Bearer "); presented != strings.Contains(chal, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate %q for Authorization %q", chal, auth)
				}
			case 405:
				if w.Header().Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			assertInStep(t, e.db, e.st)
			if strings.Contains(e.log.String(), testToken) || strings.Contains(e.log.String(), "other-token") {
				t.Errorf("the log shows a token:\n%s", e.log)
			}
		})
	}
}
