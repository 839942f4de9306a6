package proxy

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// Targets is the set of users and devices whose requests get verbose
// logging (the reference gateway's targeted logging), switchable at run
// time. Reads are lock-free: a request looks the set up in an immutable
// snapshot. The zero Targets is empty and ready to use.
type Targets struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[targetSet]
}

type targetSet struct {
	users   map[string]struct{} // eas.NormalizeUser
	devices map[string]struct{} // device.Fold
}

// AddUser starts verbose logging for a user, matched without regard to
// case (DOMAIN\user and user@domain are different names).
func (t *Targets) AddUser(user string) {
	t.update(func(s *targetSet) { s.users[eas.NormalizeUser(user)] = struct{}{} })
}

// RemoveUser stops verbose logging for a user.
func (t *Targets) RemoveUser(user string) {
	t.update(func(s *targetSet) { delete(s.users, eas.NormalizeUser(user)) })
}

// AddDevice starts verbose logging for an EAS device ID, matched without
// regard to case.
func (t *Targets) AddDevice(id string) {
	t.update(func(s *targetSet) { s.devices[device.Fold(id)] = struct{}{} })
}

// RemoveDevice stops verbose logging for a device ID.
func (t *Targets) RemoveDevice(id string) {
	t.update(func(s *targetSet) { delete(s.devices, device.Fold(id)) })
}

// Clear stops all targeted logging.
func (t *Targets) Clear() { t.update(func(s *targetSet) { clear(s.users); clear(s.devices) }) }

// Users returns the targeted users (normalised), sorted.
func (t *Targets) Users() []string { return sortedKeys(t.load().users) }

// Devices returns the targeted device IDs (folded), sorted.
func (t *Targets) Devices() []string { return sortedKeys(t.load().devices) }

// Match reports whether a request of user or deviceID is targeted.
func (t *Targets) Match(user, deviceID string) bool {
	s := t.load()
	if len(s.users) == 0 && len(s.devices) == 0 {
		return false
	}
	if user != "" {
		if _, ok := s.users[eas.NormalizeUser(user)]; ok {
			return true
		}
	}
	if deviceID != "" {
		if _, ok := s.devices[device.Fold(deviceID)]; ok {
			return true
		}
	}
	return false
}

var emptyTargets = &targetSet{}

func (t *Targets) load() *targetSet {
	if s := t.snap.Load(); s != nil {
		return s
	}
	return emptyTargets
}

func (t *Targets) update(f func(*targetSet)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.load()
	next := &targetSet{users: make(map[string]struct{}, len(old.users)+1), devices: make(map[string]struct{}, len(old.devices)+1)}
	for k := range old.users {
		next.users[k] = struct{}{}
	}
	for k := range old.devices {
		next.devices[k] = struct{}{}
	}
	f(next)
	delete(next.users, "")
	delete(next.devices, "")
	t.snap.Store(next)
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
