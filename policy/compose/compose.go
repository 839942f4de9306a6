package compose

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/store"
)

// Service is one protected service as configured, before the runtime
// changes: a policy.Service without its id, which Compose assigns.
type Service struct {
	Name         string
	Protocols    []policy.Proto
	Ports        []uint16
	Destinations []netip.Prefix
	Allow        []netip.Prefix
	Countries    []string
	Geofenced    bool
	// AdmitAll admits every source not in the deny list. It needs no
	// datapath support: the service's allowlist gets 0.0.0.0/0 and ::/0,
	// and the deny list is looked up before any allowlist.
	AdmitAll bool
	// Disabled services keep their id (and counters) but are not in the
	// policy: their ports are left unprotected.
	Disabled bool
}

// Input is everything the policy in force is made from.
type Input struct {
	// Services are the protected services, enabled or not, in the order of
	// the configuration (new names get ids in this order). A service that
	// is never filtered (smtp) is not one of them.
	Services []Service
	// Deny is the configured deny list.
	Deny []netip.Prefix
	// State is the state store's snapshot: the runtime changes laid over
	// the configuration, and the service ids stored last time.
	State store.State
	// Networks is the GeoIP country table; nil without a database.
	Networks []policy.Network
	// Now is the time the policy is composed for: the state's entries
	// expired at Now are left out. Zero means time.Now().
	Now time.Time
}

// Result is the policy in force.
type Result struct {
	Policy *policy.Policy
	// Model is the reference model of Policy: what `enforcer check`
	// explains verdicts with.
	Model *policy.Model
	// IDs is the service-id map to keep: AssignIDs(State.ServiceIDs,
	// names of Services). When it differs from State.ServiceIDs, the
	// caller that owns the store persists it whole
	// ((*store.Store).SetServiceIDs); the others only read.
	IDs map[string]uint8
}

// everyone is the allowlist of a service that admits all.
var everyone = []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)}

// Compose returns the policy in force for in: the configured services and
// deny list with the state's changes on top, every service with its id,
// and the country table. The policy passes policy.Validate; the slices of
// in are not shared with it.
func Compose(in Input) (Result, error) {
	names := make([]string, len(in.Services))
	for i, s := range in.Services {
		names[i] = s.Name
	}
	ids, err := AssignIDs(in.State.ServiceIDs, names)
	if err != nil {
		return Result{}, err
	}
	p := &policy.Policy{Deny: slices.Clone(in.Deny)}
	for _, s := range in.Services {
		if s.Disabled {
			continue
		}
		if s.AdmitAll && (s.Geofenced || len(s.Countries) > 0) {
			return Result{}, fmt.Errorf("config to policy: service %q: admit all with countries: countries would have no effect", s.Name)
		}
		allow := slices.Clone(s.Allow)
		if s.AdmitAll {
			allow = append(allow, everyone...)
		}
		p.Services = append(p.Services, policy.Service{
			ID:           ids[s.Name],
			Name:         s.Name,
			Protocols:    slices.Clone(s.Protocols),
			Ports:        slices.Clone(s.Ports),
			Destinations: slices.Clone(s.Destinations),
			Allow:        allow,
			Countries:    slices.Clone(s.Countries),
			Geofenced:    s.Geofenced,
			AdmitAll:     s.AdmitAll,
		})
	}
	// The configuration alone first: its problems are the file's, not
	// the runtime changes'.
	if err := policy.Validate(p); err != nil {
		return Result{}, fmt.Errorf("config to policy: %w", err)
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	*p = in.State.Live(now).Apply(*p)
	p.Networks = in.Networks
	m, err := policy.NewModel(p)
	if err != nil {
		return Result{}, err
	}
	return Result{Policy: p, Model: m, IDs: ids}, nil
}
