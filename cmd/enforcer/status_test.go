package main

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
)

// TestStatusShowsStoppedServer: a server of the daemon that stopped on its
// own (its Serve failed) is shown by `enforcer status`.
func TestStatusShowsStoppedServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	st := adminapi.Status{Version: "test", Servers: []adminapi.ServerStatus{
		{Name: "admin socket", Addr: sock},
		{Name: "metrics", Addr: "127.0.0.1:9100", Error: "accept: socket gone"},
	}}
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != adminapi.PathStatus {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(st)
	})}
	go fake.Serve(ln)
	t.Cleanup(func() { fake.Close() })
	out, errOut, status := cli(t, nil, "status", "--socket", sock)
	if status != 0 {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	if want := "metrics (127.0.0.1:9100): STOPPED: accept: socket gone; restart the daemon\n"; !strings.Contains(out, want) {
		t.Errorf("enforcer status:\n%s\nwant the line %q", out, want)
	}
	if strings.Contains(out, "admin socket (") {
		t.Errorf("enforcer status:\n%s\nshows a running server; want only stopped ones", out)
	}
}
