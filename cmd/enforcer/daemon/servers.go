package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
)

// shutdownGrace is how long Close lets requests in flight finish before
// it cuts their connections.
const shutdownGrace = 5 * time.Second

// servers is the one lifecycle of everything the daemon serves or runs
// in the background (the admin socket, the admin page, the metrics, the
// proxy, the push API, the pull sync): each is started here, and when one
// stops on its own its error is logged and kept for `enforcer status`,
// rather than lost with its goroutine. Close stops them all.
type servers struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex // guards all and each server's err
	all []*server
}

type server struct {
	name string
	addr string
	err  error                           // why it stopped on its own; nil while it runs
	stop func(ctx context.Context) error // nil: ending ctx stops it
}

func newServers(log *slog.Logger) *servers {
	s := &servers{log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// serve serves srv on l under name until Close, which shuts it down
// gracefully (shutdownGrace), then runs cleanup (if not nil).
func (s *servers) serve(name string, srv *http.Server, l net.Listener, cleanup func()) {
	stop := func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			srv.Close()
		}
		if cleanup != nil {
			cleanup()
		}
		return err
	}
	s.start(name, l.Addr().String(), func(context.Context) error { return srv.Serve(l) }, stop)
}

// run runs f (a server that stops when its context ends, a background
// loop) under name until Close; addr is what status shows for it.
func (s *servers) run(name, addr string, f func(ctx context.Context) error) {
	s.start(name, addr, f, nil)
}

func (s *servers) start(name, addr string, f func(context.Context) error, stop func(context.Context) error) {
	sv := &server{name: name, addr: addr, stop: stop}
	s.mu.Lock()
	s.all = append(s.all, sv)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := f(s.ctx)
		if s.ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) {
			return // stopped by Close
		}
		if err == nil {
			err = errors.New("stopped without an error")
		}
		s.log.Error(name+" stopped: it serves nothing until the daemon restarts", "listen", addr, "error", err)
		s.mu.Lock()
		sv.err = err
		s.mu.Unlock()
	}()
}

// status lists the servers in the order they started.
func (s *servers) status() []adminapi.ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]adminapi.ServerStatus, 0, len(s.all))
	for _, sv := range s.all {
		st := adminapi.ServerStatus{Name: sv.name, Addr: sv.addr}
		if sv.err != nil {
			st.Error = sv.err.Error()
		}
		out = append(out, st)
	}
	return out
}

// Close stops every server, the last started first, and waits for them.
func (s *servers) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	s.mu.Lock()
	all := slices.Clone(s.all)
	s.mu.Unlock()
	var errs []error
	for _, sv := range slices.Backward(all) {
		if sv.stop != nil {
			if err := sv.stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
