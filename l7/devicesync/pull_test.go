package devicesync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
)

// pullServer serves a change log page by page: page i answers cursor
// "p<i>" ("" for page 0) and carries cursor "p<i+1>". It counts the pages
// it served whole, by cursor.
type pullServer struct {
	t      *testing.T
	mu     sync.Mutex
	pages  []PageDoc
	served map[string]int
	// fail, when it returns a status, answers the request instead.
	fail func(cursor string) int
	// raw, when set for a cursor, is sent instead of the page.
	raw map[string]string
	// block, when set for a cursor, holds the request until the client
	// gives up.
	block  string
	queued chan struct{}
	srv    *httptest.Server
}

func newPullServer(t *testing.T, pages []PageDoc) *pullServer {
	s := &pullServer{t: t, pages: pages, served: map[string]int{}, raw: map[string]string{}, queued: make(chan struct{}, 100)}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *pullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer pull-token" {
		http.Error(w, "bad token "+got, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("tenant") != "7" {
		http.Error(w, "tenant lost", http.StatusBadRequest)
		return
	}
	cursor := r.URL.Query().Get("cursor")
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != "" && cursor == block {
		s.queued <- struct{}{}
		<-r.Context().Done()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if code := s.fail(cursor); code != 0 {
			http.Error(w, "injected failure", code)
			return
		}
	}
	i := 0
	if cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cursor, "p"))
		if err != nil || n > len(s.pages) {
			http.Error(w, "unknown cursor", http.StatusGone)
			return
		}
		i = n
	}
	w.Header().Set("Content-Type", "application/json")
	if raw, ok := s.raw[cursor]; ok {
		io.WriteString(w, raw)
		return
	}
	var page PageDoc
	if i < len(s.pages) {
		page = s.pages[i]
		page.More = i+1 < len(s.pages)
		page.Cursor = "p" + strconv.Itoa(i+1)
	} else {
		page.Cursor = "p" + strconv.Itoa(i) // nothing new
	}
	json.NewEncoder(w).Encode(page)
	s.served[cursor]++
}

func (s *pullServer) url() string { return s.srv.URL + "/delta?tenant=7" }

func (s *pullServer) servedTwice() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var twice []string
	for c, n := range s.served {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%q×%d", c, n))
		}
	}
	return twice
}

func newTestPuller(t *testing.T, db *DB, st *device.Store, url string, log io.Writer) *Puller {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	p, err := NewPuller(db, st, PullOptions{URL: url, Token: []byte("pull-token"), Interval: 20 * time.Millisecond, MaxPageBytes: 1 << 16,
		Client: &http.Client{Timeout: 10 * time.Second},
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func docs(recs ...device.Record) []RecordDoc {
	out := make([]RecordDoc, len(recs))
	for i, r := range recs {
		out[i] = RecordDocOf(r)
	}
	return out
}

// changeLog is a full snapshot over three pages, then deltas, and the
// records it ends with.
func changeLog() ([]PageDoc, []string) {
	pages := []PageDoc{
		{Full: true, Time: at(-100), Records: docs(rec("a", at(-200)), rec("b", at(-200))), Policy: &PolicyDoc{Revision: "1", Updated: at(-300)}},
		{Records: docs(rec("c", at(-200)), rec("d", at(-150)))},
		{Records: docs(rec("e", at(-120)))}, // end of the snapshot
		{Records: docs(rec("a", at(-90), func(r *device.Record) { r.Model = "a2" })), Deleted: []Deletion{{DeviceID: "b", Deleted: at(-80)}}},
		{Deleted: []Deletion{{DeviceID: "c"}}, Time: at(-70)},
		{Records: docs(rec("f", at(-60))), Policy: &PolicyDoc{Revision: "2", Updated: at(-60), policyConfig: device.Config{ManagedOnly: true}}},
	}
	return pages, []string{"a", "d", "e", "f"}
}

func TestPullSyncOnce(t *testing.T) {
	pages, want := changeLog()
	srv := newPullServer(t, pages[:3])
	db, st := mustTempDB(t)
	// A device the snapshot does not list: it goes when the snapshot ends.
	mustApply(t, db, st, Change{Upsert: []device.Record{rec("stray", at(-500))}})
	p := newTestPuller(t, db, st, srv.url(), nil)

	res, err := p.SyncOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Upserted: 5, Deleted: 1, Policy: PolicyUpdated}, res); diff != "" {
		t.Errorf("first sync (-want +got):\n%s", diff)
	}
	if c, _ := db.Cursor(); c != "p3" {
		t.Errorf("cursor %q after three pages", c)
	}
	srv.mu.Lock()
	srv.pages = pages
	srv.mu.Unlock()
	res, err = p.SyncOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Upserted: 2, Deleted: 2, Policy: PolicyUpdated}, res); diff != "" {
		t.Errorf("second sync (-want +got):\n%s", diff)
	}
	// Nothing new: one request, nothing applied.
	res, err = p.SyncOnce(context.Background())
	if err != nil || res != (Result{}) {
		t.Errorf("third sync: %+v, %v", res, err)
	}
	var ids []string
	for _, r := range records(st) {
		ids = append(ids, r.DeviceID)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if rev := st.Policy().Config().Revision; rev != "2" {
		t.Errorf("policy revision %q", rev)
	}
	if twice := srv.servedTwice(); len(twice) > 1 || (len(twice) == 1 && twice[0] != `"p6"×2`) {
		t.Errorf("pages served more than once: %v", twice)
	}
	assertInStep(t, db, st)
}

// TestPullResumesAfterRestart interrupts a sync (a 500, or the daemon
// stopping while a request is in flight) inside the snapshot and after
// it, restarts (closes and reopens the file, loads a fresh store) and
// syncs again: the end state is the source's, and no page was served
// whole twice or applied twice.
func TestPullResumesAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failAt string // cursor of the page that fails
		cancel bool
	}{
		{"500 inside the snapshot", "p1", false},
		{"500 after the snapshot", "p3", false},
		{"cancelled inside the snapshot", "p2", true},
		{"cancelled after the snapshot", "p4", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages, want := changeLog()
			srv := newPullServer(t, pages)
			failed := false
			if tc.cancel {
				srv.block = tc.failAt
			} else {
				srv.fail = func(c string) int {
					if c == tc.failAt && !failed {
						failed = true
						return http.StatusInternalServerError
					}
					return 0
				}
			}
			path := filepath.Join(t.TempDir(), FileName)
			db := mustOpen(t, path, Options{})
			st := device.NewStore(device.StoreOptions{})
			mustApply(t, db, st, Change{Upsert: []device.Record{rec("stray", at(-500))}})
			var total Result

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				res, err := newTestPuller(t, db, st, srv.url(), nil).SyncOnce(ctx)
				total.Add(res)
				var se *HTTPStatusError
				switch {
				case tc.cancel && !errors.Is(err, context.Canceled):
					t.Errorf("first sync: %v, want context.Canceled", err)
				case !tc.cancel && (!errors.As(err, &se) || se.Status != 500):
					t.Errorf("first sync: %v, want HTTP status 500", err)
				}
			}()
			if tc.cancel {
				<-srv.queued // the request for the page is in flight
				cancel()
			}
			<-done
			cancel()
			if c, _ := db.Cursor(); c != tc.failAt {
				t.Fatalf("cursor %q after the interruption, want %q", c, tc.failAt)
			}
			// Restart.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			srv.block = ""
			srv.mu.Unlock()
			db = mustOpen(t, path, Options{})
			st = device.NewStore(device.StoreOptions{})
			if err := db.Load(st); err != nil {
				t.Fatal(err)
			}
			res, err := newTestPuller(t, db, st, srv.url(), nil).SyncOnce(context.Background())
			if err != nil {
				t.Fatalf("second sync: %v", err)
			}
			total.Add(res)

			var ids []string
			for _, r := range records(st) {
				ids = append(ids, r.DeviceID)
			}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if m := st.Lookup("a").Model; m != "a2" {
				t.Errorf("a's model %q", m)
			}
			// Every page applied once: 7 records upserted, 3 deleted
			// (stray by the snapshot, b and c), nothing seen twice.
			if diff := cmp.Diff(Result{Upserted: 7, Deleted: 3, Policy: PolicyUpdated}, total); diff != "" {
				t.Errorf("both syncs (-want +got):\n%s", diff)
			}
			if twice := srv.servedTwice(); len(twice) > 0 {
				t.Errorf("pages served whole more than once: %v", twice)
			}
			assertInStep(t, db, st)
		})
	}
}

func TestPullRefusesBadPages(t *testing.T) {
	pages, _ := changeLog()
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"bad json", `{"cursor":"p2","records":[`, "truncated JSON"},
		{"unknown field", `{"cursor":"p2","recs":[]}`, `unknown field "recs"`},
		{"invalid record", `{"cursor":"p2","records":[{"device_id":"x","compromised":"perhaps"}]}`, `want yes, no or empty`},
		{"invalid change", `{"cursor":"p2","records":[{"device_id":"x","updated":"2099-01-01T00:00:00Z"}]}`, `upsert[0] (device "x"): updated`},
		{"no cursor", `{"records":[]}`, "field cursor: empty"},
		{"too large", `{"cursor":"p2","records":[` + strings.Repeat(`{"device_id":"x"},`, 5000) + `{"device_id":"y"}]}`, "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPullServer(t, pages)
			srv.raw["p1"] = tc.raw
			db, st := mustTempDB(t)
			p := newTestPuller(t, db, st, srv.url(), nil)
			_, err := p.SyncOnce(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sync: %v, want an error with %q", err, tc.want)
			}
			if c, _ := db.Cursor(); c != "p1" {
				t.Errorf("cursor %q, want p1: the bad page must not move it", c)
			}
			before := stateOf(st)
			delete(srv.raw, "p1")
			if _, err := p.SyncOnce(context.Background()); err != nil {
				t.Fatalf("sync after the page is fixed: %v", err)
			}
			if len(before.Records) != 2 || len(records(st)) != 4 {
				t.Errorf("records before %d, after %d", len(before.Records), len(records(st)))
			}
			assertInStep(t, db, st)
		})
	}
}

func TestPullProtocolErrors(t *testing.T) {
	db, st := mustTempDB(t)
	same := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"cursor":"same","more":true}`)
	}))
	defer same.Close()
	p := newTestPuller(t, db, st, same.URL, nil)
	if _, err := p.SyncOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "same cursor") {
		t.Errorf("a server repeating its cursor: %v", err)
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<html>`)
	}))
	defer html.Close()
	p = newTestPuller(t, db, st, html.URL, nil)
	if _, err := p.SyncOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "want application/json") {
		t.Errorf("an HTML answer: %v", err)
	}
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://"} {
		if _, err := NewPuller(db, st, PullOptions{URL: u}); err == nil {
			t.Errorf("NewPuller(%q) accepted", u)
		}
	}
}

func TestPullRun(t *testing.T) {
	pages, _ := changeLog()
	srv := newPullServer(t, pages)
	failures := 0
	srv.fail = func(c string) int {
		if c == "p6" && failures < 2 { // fail twice once the log is done
			failures++
			return http.StatusServiceUnavailable
		}
		return 0
	}
	db, st := mustTempDB(t)
	var logBuf syncBuffer
	p := newTestPuller(t, db, st, srv.url(), &logBuf)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		n := srv.served["p6"]
		srv.mu.Unlock()
		if n >= 2 { // two syncs after the failures
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Run did not sync repeatedly; log:\n%s", logBuf.String())
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	log := logBuf.String()
	if !strings.Contains(log, "device pull failed") || !strings.Contains(log, "status 503") || !strings.Contains(log, "device pull done") {
		t.Errorf("log lacks the failures or the syncs:\n%s", log)
	}
	if strings.Contains(log, "pull-token") {
		t.Errorf("the log shows the token:\n%s", log)
	}
	if len(records(st)) != 4 {
		t.Errorf("records after Run: %v", records(st))
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPullTransforms: a page may carry the email security document. It is
// checked before anything of its page is applied, stored with the page and
// its cursor, then put in force; null removes it, absence leaves it.
func TestPullTransforms(t *testing.T) {
	pages := []PageDoc{
		{Records: docs(rec("a", at(-100))), Transforms: json.RawMessage(`{"enabled":true,"links":{"https_scheme":"mibrowsers"}}`)},
		{Records: docs(rec("b", at(-90)))}, // absent: the document stays
		{Transforms: json.RawMessage(`{"enabled":"maybe"}`)},
		{Transforms: json.RawMessage(`null`)},
	}
	srv := newPullServer(t, pages[:2])
	db, st := mustTempDB(t)
	var applied []string
	p, err := NewPuller(db, st, PullOptions{URL: srv.url(), Token: []byte("pull-token"), Client: &http.Client{Timeout: 10 * time.Second},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Transforms: TransformsHook{
			Check: func(doc []byte) error {
				var v struct {
					Enabled bool `json:"enabled"`
				}
				return json.Unmarshal(doc, &v)
			},
			Apply: func(doc []byte) { applied = append(applied, string(doc)) },
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored, _ := db.Transforms()
	if string(stored) != string(pages[0].Transforms) || len(applied) != 1 || applied[0] != string(pages[0].Transforms) {
		t.Fatalf("after two pages: stored %q, applied %q", stored, applied)
	}

	// A document the gateway refuses fails the sync at its page: neither
	// the page nor its cursor is applied, and the stored one stays.
	srv.mu.Lock()
	srv.pages = pages
	srv.mu.Unlock()
	_, err = p.SyncOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), `page after cursor "p2": transforms`) {
		t.Fatalf("sync over a bad document: %v", err)
	}
	if c, _ := db.Cursor(); c != "p2" {
		t.Errorf("cursor %q, want p2", c)
	}
	if stored, _ := db.Transforms(); string(stored) != string(pages[0].Transforms) || len(applied) != 1 {
		t.Errorf("after the refused page: stored %q, applied %q", stored, applied)
	}

	// Fixed at the source: null removes the document.
	srv.mu.Lock()
	srv.pages[2].Transforms = nil
	srv.mu.Unlock()
	if _, err := p.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stored, _ := db.Transforms(); stored != nil || len(applied) != 2 || applied[1] != "" {
		t.Errorf("after null: stored %q, applied %q", stored, applied)
	}

	// A gateway that takes no document refuses a page that carries one.
	db2, st2 := mustTempDB(t)
	srv2 := newPullServer(t, pages[:1])
	if _, err := newTestPuller(t, db2, st2, srv2.url(), nil).SyncOnce(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "takes no email security document") {
		t.Errorf("sync without a hook: %v", err)
	}
	assertInStep(t, db, st)
}
