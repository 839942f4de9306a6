package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/l7/wbxml"
)

const (
	easPath      = "/Microsoft-Server-ActiveSync"
	wbxmlType    = "application/vnd.ms-sync.wbxml"
	holdPingsMax = 3 * time.Minute // the longest an upstream holds a Ping
)

// easCommand is one command of the request mix, with the bodies a client
// sends and the mail server answers.
type easCommand struct {
	name      string
	req, resp []byte
}

// easMix is the traffic of the load runs, one slot per request in turn: a
// phone that is in use mostly syncs (a few KB each way), now and then
// checks its folders, reissues a Ping (answered at once here, as when mail
// is waiting) and fetches an attachment.
type easMix struct {
	cmds  map[string]*easCommand
	slots []*easCommand
}

func newEASMix() (*easMix, error) {
	sync, err := syncBodies()
	if err != nil {
		return nil, err
	}
	folder, err := folderSyncBodies()
	if err != nil {
		return nil, err
	}
	ping, err := pingBodies()
	if err != nil {
		return nil, err
	}
	fetch, err := itemOperationsBodies()
	if err != nil {
		return nil, err
	}
	m := &easMix{cmds: map[string]*easCommand{}}
	for _, c := range []*easCommand{sync, folder, ping, fetch} {
		m.cmds[c.name] = c
	}
	// 20 Sync, 2 FolderSync, 2 Ping, 1 ItemOperations in 25.
	for i := range 25 {
		switch {
		case i == 12:
			m.slots = append(m.slots, fetch)
		case i == 5 || i == 17:
			m.slots = append(m.slots, folder)
		case i == 9 || i == 21:
			m.slots = append(m.slots, ping)
		default:
			m.slots = append(m.slots, sync)
		}
	}
	return m, nil
}

func encode(n *wbxml.Node) ([]byte, error) {
	b, err := wbxml.Encode(n)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", n.Name(), err)
	}
	return b, nil
}

// syncBodies: the client uploads changes to a collection (about 2 KB), the
// server sends new mail (about 4 KB).
func syncBodies() (*easCommand, error) {
	collection := func(key string, items, textLen int, withBody bool) *wbxml.Node {
		cmds := wbxml.Elem("AirSync:Commands")
		for i := range items {
			data := wbxml.Elem("AirSync:ApplicationData",
				wbxml.ElemText("Email:Subject", "Quarterly figures, revision "+strconv.Itoa(i)),
				wbxml.ElemText("Email:Read", "1"))
			if withBody {
				data.Append(wbxml.Elem("AirSyncBase:Body",
					wbxml.ElemText("AirSyncBase:Type", "1"),
					wbxml.ElemText("AirSyncBase:Data", strings.Repeat("Lorem ipsum dolor sit amet. ", textLen/28+1)[:textLen])))
			}
			cmds.Append(wbxml.Elem("AirSync:Change",
				wbxml.ElemText("AirSync:ServerId", "5:"+strconv.Itoa(100+i)), data))
		}
		return wbxml.Elem("AirSync:Sync", wbxml.Elem("AirSync:Collections", wbxml.Elem("AirSync:Collection",
			wbxml.ElemText("AirSync:SyncKey", key), wbxml.ElemText("AirSync:CollectionId", "5"),
			wbxml.ElemText("AirSync:Status", "1"), cmds)))
	}
	req, err := encode(collection("1147483647", 40, 0, false))
	if err != nil {
		return nil, err
	}
	resp, err := encode(collection("1147483648", 8, 400, true))
	if err != nil {
		return nil, err
	}
	return &easCommand{name: "Sync", req: req, resp: resp}, nil
}

// folderSyncBodies: a sync key up, the folder hierarchy down (about 2 KB).
func folderSyncBodies() (*easCommand, error) {
	req, err := encode(wbxml.Elem("FolderHierarchy:FolderSync", wbxml.ElemText("FolderHierarchy:SyncKey", "7")))
	if err != nil {
		return nil, err
	}
	changes := wbxml.Elem("FolderHierarchy:Changes", wbxml.ElemText("FolderHierarchy:Count", "40"))
	for i := range 40 {
		changes.Append(wbxml.Elem("FolderHierarchy:Add",
			wbxml.ElemText("FolderHierarchy:ServerId", strconv.Itoa(i+1)),
			wbxml.ElemText("FolderHierarchy:ParentId", "0"),
			wbxml.ElemText("FolderHierarchy:DisplayName", "Project folder "+strconv.Itoa(i)),
			wbxml.ElemText("FolderHierarchy:Type", "12")))
	}
	resp, err := encode(wbxml.Elem("FolderHierarchy:FolderSync",
		wbxml.ElemText("FolderHierarchy:Status", "1"), wbxml.ElemText("FolderHierarchy:SyncKey", "8"), changes))
	if err != nil {
		return nil, err
	}
	return &easCommand{name: "FolderSync", req: req, resp: resp}, nil
}

// pingBodies: a heartbeat and the folders to watch up, "changes
// available" down.
func pingBodies() (*easCommand, error) {
	folders := wbxml.Elem("Ping:Folders")
	for _, id := range []string{"5", "6", "9"} {
		folders.Append(wbxml.Elem("Ping:Folder", wbxml.ElemText("Ping:Id", id), wbxml.ElemText("Ping:Class", "Email")))
	}
	req, err := encode(wbxml.Elem("Ping:Ping", wbxml.ElemText("Ping:HeartbeatInterval", "900"), folders))
	if err != nil {
		return nil, err
	}
	resp, err := encode(wbxml.Elem("Ping:Ping", wbxml.ElemText("Ping:Status", "2"),
		wbxml.Elem("Ping:Folders", wbxml.ElemText("Ping:Folder", "5"))))
	if err != nil {
		return nil, err
	}
	return &easCommand{name: "Ping", req: req, resp: resp}, nil
}

// itemOperationsBodies: a Fetch of one attachment up, 64 KB of it down.
func itemOperationsBodies() (*easCommand, error) {
	req, err := encode(wbxml.Elem("ItemOperations:ItemOperations", wbxml.Elem("ItemOperations:Fetch",
		wbxml.ElemText("ItemOperations:Store", "Mailbox"),
		wbxml.ElemText("AirSyncBase:FileReference", "5%3a100%3a0"))))
	if err != nil {
		return nil, err
	}
	att := make([]byte, 64<<10)
	for i := range att {
		att[i] = byte(i * 131)
	}
	resp, err := encode(wbxml.Elem("ItemOperations:ItemOperations",
		wbxml.ElemText("ItemOperations:Status", "1"),
		wbxml.Elem("ItemOperations:Response", wbxml.Elem("ItemOperations:Fetch",
			wbxml.ElemText("ItemOperations:Status", "1"),
			wbxml.ElemText("AirSyncBase:FileReference", "5%3a100%3a0"),
			wbxml.Elem("ItemOperations:Properties", wbxml.ElemOpaque("ItemOperations:Data", att))))))
	if err != nil {
		return nil, err
	}
	return &easCommand{name: "ItemOperations", req: req, resp: resp}, nil
}

// mailServer is the upstream of the runs: it reads each request body and
// answers the command's response at once, except Ping when hold is set:
// then it keeps the request until release is closed (or holdPingsMax).
type mailServer struct {
	mix     *easMix
	srv     *http.Server
	url     string
	hold    bool
	release chan struct{}
	held    atomic.Int64 // Pings being held
	errs    atomic.Int64
}

func startMailServer(mix *easMix, hold bool) (*mailServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mailServer{mix: mix, hold: hold, release: make(chan struct{}), url: "http://" + l.Addr().String()}
	m.srv = &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go m.srv.Serve(l)
	return m, nil
}

func (m *mailServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		m.errs.Add(1)
		return
	}
	cmd := m.mix.cmds[commandOf(r.URL.RawQuery)]
	if r.URL.Path != easPath || cmd == nil {
		m.errs.Add(1)
		http.Error(w, "unknown command", http.StatusBadRequest)
		return
	}
	if m.hold && cmd.name == "Ping" {
		m.held.Add(1)
		t := time.NewTimer(holdPingsMax)
		select {
		case <-m.release:
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
		m.held.Add(-1)
	}
	h := w.Header()
	h["Content-Type"] = []string{wbxmlType}
	h["Content-Length"] = []string{strconv.Itoa(len(cmd.resp))}
	_, _ = w.Write(cmd.resp)
}

// commandOf returns the Cmd parameter of a plain EAS query.
func commandOf(rawQuery string) string {
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if v, ok := strings.CutPrefix(kv, "Cmd="); ok {
			return v
		}
	}
	return ""
}

// releasePings answers every held Ping.
func (m *mailServer) releasePings() {
	select {
	case <-m.release:
	default:
		close(m.release)
	}
}

func (m *mailServer) close() {
	m.releasePings()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		_ = m.srv.Close()
	}
	_ = m.srv.Close()
}
