package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// mustServe serves h on a unix socket in a temporary directory and
// returns its path.
func mustServe(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestClient: answers decode into the wire types, the daemon's
// {"error": ...} comes back as the error's text, and a socket nobody
// answers on is ErrNotRunning.
func TestClient(t *testing.T) {
	sock := mustServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == PathCheck:
			fmt.Fprintf(w, `{"ip":%q,"service":"imap","verdict":"pass"}`, r.URL.Query().Get("ip"))
		case r.Method == http.MethodPost && r.URL.Path == PathAllow:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"192.0.2.0/24 is already in enforcer.yaml; nothing to add"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	c := NewClient(sock)
	ctx := context.Background()
	var res CheckResult
	if err := c.Do(ctx, http.MethodGet, PathCheck, map[string][]string{"ip": {"192.0.2.7"}}, nil, &res); err != nil {
		t.Fatal(err)
	}
	if res.IP != "192.0.2.7" || res.Service != "imap" || res.Verdict != "pass" {
		t.Errorf("check answer %+v", res)
	}
	err := c.Do(ctx, http.MethodPost, PathAllow, nil, ListChange{Service: "imap", Items: []string{"192.0.2.0/24"}}, &ChangeResult{})
	if err == nil || err.Error() != "192.0.2.0/24 is already in enforcer.yaml; nothing to add" {
		t.Errorf("refused change: %v, want the daemon's message as is", err)
	}
	if err := c.Do(ctx, http.MethodGet, PathStatus, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown path: %v, want the status", err)
	}

	none := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if err := none.Do(ctx, http.MethodPost, PathReload, nil, nil, nil); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("no daemon: %v, want ErrNotRunning naming the socket", err)
	}
}
