package devicesync

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/device"
)

func TestPushTransforms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var applied []string
	h := NewPushHandler(db, device.NewStore(device.StoreOptions{}), PushOptions{Tokens: [][]byte{[]byte("tok")},
		Transforms: TransformsHook{
			Check: func(doc []byte) error {
				if strings.Contains(string(doc), "bad") {
					return errors.New("transforms.links.mode: bad mode")
				}
				return nil
			},
			Apply: func(doc []byte) { applied = append(applied, string(doc)) },
		}})
	do := func(method, body, ct string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/v1/transforms", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	doc := `{"links": {"mode": "all", "http_scheme": "a", "https_scheme": "b"}}`
	if rec := do(http.MethodGet, "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET before any: %d", rec.Code)
	}
	if rec := do(http.MethodPut, doc, "text/plain"); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("PUT text/plain: %d", rec.Code)
	}
	if rec := do(http.MethodPut, `{"links": {"mode": "bad"}}`, "application/json"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "transforms.links.mode") {
		t.Errorf("PUT a refused document: %d %s", rec.Code, rec.Body)
	}
	if rec := do(http.MethodPut, doc, "application/json"); rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := do(http.MethodGet, "", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"https_scheme": "b"`) && !strings.Contains(rec.Body.String(), `"https_scheme":"b"`) {
		t.Errorf("GET: %d %s", rec.Code, rec.Body)
	}
	// Stored: a restart finds it.
	db.Close()
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Transforms()
	if err != nil || string(got) != doc {
		t.Errorf("after reopening: %q, %v", got, err)
	}
	h = NewPushHandler(db, device.NewStore(device.StoreOptions{}), PushOptions{Tokens: [][]byte{[]byte("tok")},
		Transforms: TransformsHook{Check: func([]byte) error { return nil }, Apply: func(doc []byte) { applied = append(applied, string(doc)) }}})
	if rec := do(http.MethodDelete, "", ""); rec.Code != http.StatusOK {
		t.Errorf("DELETE: %d", rec.Code)
	}
	if got, _ := db.Transforms(); got != nil {
		t.Errorf("after DELETE: %q", got)
	}
	if len(applied) != 2 || applied[0] != doc || applied[1] != "" {
		t.Errorf("applied %q", applied)
	}
	h = NewPushHandler(db, device.NewStore(device.StoreOptions{}), PushOptions{Tokens: [][]byte{[]byte("tok")}})
	if rec := do(http.MethodPut, doc, "application/json"); rec.Code != http.StatusNotFound {
		t.Errorf("without a hook: %d", rec.Code)
	}
}
