package proxy

import (
	"container/list"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/l7/csvcell"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// RedirectMapping is one remembered 451 redirect: requests of User (or,
// when the requests named no user, of DeviceID) go to Upstream.
type RedirectMapping struct {
	// User is the user of the redirected request as it named itself; ""
	// when it named none, and the mapping is then the device's.
	User     string
	DeviceID string
	// Upstream is the scheme and host the mail server redirected to,
	// "https://mail2.internal".
	Upstream string
	Created  time.Time
	LastUsed time.Time
	// Hits counts the requests sent to Upstream because of the mapping.
	Hits uint64
}

// redirects remembers where the mail server sent each user with 451
// ([MS-ASHTTP] 3.2.5.1: the mailbox lives on another server), bounded,
// least recently used forgotten first. Exchange answers 451 when a
// mailbox moved or is better served by another site; a user's mailbox is
// the unit, so mappings are per user, falling back to the device when the
// request names no user.
type redirects struct {
	// n mirrors len(m) so that the common case, no mapping at all, costs
	// every request an atomic load instead of a lock.
	n   atomic.Int64
	mu  sync.Mutex
	max int
	m   map[string]*list.Element // key → *redirectEntry
	lru *list.List               // front: most recently used
}

type redirectEntry struct {
	key    string
	target *url.URL // scheme and host only
	rec    RedirectMapping
}

func newRedirects(max int) *redirects {
	return &redirects{max: max, m: make(map[string]*list.Element), lru: list.New()}
}

func redirectKey(user, deviceID string) string {
	if u := eas.NormalizeUser(user); u != "" {
		return "u:" + u
	}
	if d := device.Fold(deviceID); d != "" {
		return "d:" + d
	}
	return ""
}

// lookup returns the remembered upstream of a request's user or device.
func (r *redirects) lookup(user, deviceID string, now time.Time) (*url.URL, bool) {
	if r.n.Load() == 0 {
		return nil, false
	}
	k := redirectKey(user, deviceID)
	if k == "" {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.m[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*redirectEntry)
	r.lru.MoveToFront(el)
	e.rec.LastUsed = now
	e.rec.Hits++
	return e.target, true
}

// remember maps the request's user (or device) to target's scheme and host.
func (r *redirects) remember(user, deviceID string, target *url.URL, now time.Time) {
	k := redirectKey(user, deviceID)
	if k == "" || r.max < 0 {
		return
	}
	t := &url.URL{Scheme: target.Scheme, Host: target.Host}
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.m[k]; ok {
		e := el.Value.(*redirectEntry)
		e.target = t
		e.rec.Upstream = t.String()
		e.rec.User, e.rec.DeviceID = clip(user), clip(deviceID)
		e.rec.Created, e.rec.LastUsed, e.rec.Hits = now, now, 0
		r.lru.MoveToFront(el)
		return
	}
	e := &redirectEntry{key: k, target: t, rec: RedirectMapping{
		User: clip(user), DeviceID: clip(deviceID), Upstream: t.String(), Created: now, LastUsed: now,
	}}
	r.m[k] = r.lru.PushFront(e)
	for r.max > 0 && r.lru.Len() > r.max {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.m, old.Value.(*redirectEntry).key)
	}
	r.n.Store(int64(len(r.m)))
}

// forget drops the mapping of a user (or device); it reports whether one
// existed.
func (r *redirects) forget(user, deviceID string) bool {
	k := redirectKey(user, deviceID)
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.m[k]
	if ok {
		r.lru.Remove(el)
		delete(r.m, k)
		r.n.Store(int64(len(r.m)))
	}
	return ok
}

// list returns every mapping, most recently used first.
func (r *redirects) list() []RedirectMapping {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RedirectMapping, 0, r.lru.Len())
	for el := r.lru.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*redirectEntry).rec)
	}
	return out
}

// clip bounds what a client-chosen string can make the gateway keep.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max]
	}
	return strings.Clone(s)
}

// RedirectsCSVHeader is the header row of [Proxy.WriteRedirectsCSV].
var RedirectsCSVHeader = []string{"user", "device_id", "upstream", "created", "last_used", "hits"}

// writeRedirectsCSV writes mappings sorted by user, then device ID, times
// in RFC 3339 UTC. Cells a spreadsheet would run as a formula are
// prefixed with ' (package csvcell), since user names and device IDs come
// from clients.
func writeRedirectsCSV(w io.Writer, ms []RedirectMapping) error {
	slices.SortFunc(ms, func(a, b RedirectMapping) int {
		if c := strings.Compare(eas.NormalizeUser(a.User), eas.NormalizeUser(b.User)); c != 0 {
			return c
		}
		return strings.Compare(device.Fold(a.DeviceID), device.Fold(b.DeviceID))
	})
	cw := csvcell.NewWriter(w)
	cw.Write(RedirectsCSVHeader...)
	for _, m := range ms {
		cw.Write(m.User, m.DeviceID, m.Upstream,
			m.Created.UTC().Format(time.RFC3339), m.LastUsed.UTC().Format(time.RFC3339),
			strconv.FormatUint(m.Hits, 10))
	}
	return cw.Flush()
}
