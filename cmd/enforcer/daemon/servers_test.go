package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"

	"github.com/google/go-cmp/cmp"
)

// brokenListener accepts nothing: its Accept fails as a listener whose
// socket went away does, which ends http.Server.Serve.
type brokenListener struct {
	net.Listener
	fail chan struct{} // closed: Accept fails from then on
}

func (l *brokenListener) Accept() (net.Conn, error) {
	<-l.fail
	return nil, errors.New("accept: socket gone")
}

// TestServerStoppedShowsInStatus: a server whose Serve fails is logged
// and shown by status (before, the admin socket's, admin page's and
// metrics' Serve errors were dropped); one stopped by Close is not.
func TestServerStoppedShowsInStatus(t *testing.T) {
	var logs lockedBuffer
	s := newServers(slog.New(slog.NewTextHandler(&logs, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broken := &brokenListener{Listener: l, fail: make(chan struct{})}
	s.serve("metrics", &http.Server{ReadHeaderTimeout: time.Second}, broken, nil)
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cleaned := make(chan struct{})
	s.serve("admin page", &http.Server{ReadHeaderTimeout: time.Second}, good, func() { close(cleaned) })
	s.run("pull", "https://mdm.example/v1/sync", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })

	close(broken.fail)
	deadline := time.Now().Add(10 * time.Second)
	for s.status()[0].Error == "" {
		if time.Now().After(deadline) {
			t.Fatal("the failed server never showed in status")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	want := []adminapi.ServerStatus{
		{Name: "metrics", Addr: l.Addr().String(), Error: "accept: socket gone"},
		{Name: "admin page", Addr: good.Addr().String()},
		{Name: "pull", Addr: "https://mdm.example/v1/sync"},
	}
	if diff := cmp.Diff(want, s.status()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if log := logs.String(); !strings.Contains(log, "metrics stopped") || !strings.Contains(log, "accept: socket gone") {
		t.Errorf("log %q: want the metrics server's stop and its error", log)
	}

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-cleaned:
	default:
		t.Error("Close did not run the admin page's cleanup")
	}
	if diff := cmp.Diff(want, s.status()); diff != "" {
		t.Errorf("status after Close: the servers Close stopped must show no error (-want +got):\n%s", diff)
	}
	if _, err := net.Dial("tcp", good.Addr().String()); err == nil {
		t.Error("the admin page still accepts connections after Close")
	}
}
