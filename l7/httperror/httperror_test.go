package httperror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	cause := errors.New("disk full")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{"bad request", BadRequest("no service %q", "x"), http.StatusBadRequest, `no service "x"`},
		{"wrapped in context", fmt.Errorf("import: %w", NotFound("no device")), http.StatusNotFound, "import: no device"},
		{"wrapped cause", Wrap(http.StatusServiceUnavailable, cause), http.StatusServiceUnavailable, "disk full"},
		{"plain error", cause, http.StatusInternalServerError, "disk full"},
		{"zero status", &Error{Msg: "odd"}, http.StatusInternalServerError, "odd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if got := Write(rec, tc.err); got != tc.wantStatus {
				t.Errorf("Write returned %d, want %d", got, tc.wantStatus)
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.wantStatus || b.Error != tc.wantMsg {
				t.Errorf("answer %d %q, want %d %q", rec.Code, b.Error, tc.wantStatus, tc.wantMsg)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if !errors.Is(Wrap(http.StatusBadRequest, cause), cause) {
		t.Error("Wrap hides its cause from errors.Is")
	}
}
