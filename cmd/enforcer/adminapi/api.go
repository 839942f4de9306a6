package adminapi

import (
	"time"

	"github.com/mailgate/enforcer/policy/explain"
)

// The admin API: JSON over HTTP on a root-only unix socket. Paths are
// versioned; every response is JSON, errors as {"error": "..."} with a 4xx
// or 5xx status. `curl --unix-socket /run/enforcer/enforcer.sock
// http://enforcer/v1/status` works too.
const (
	PathStatus   = "/v1/status"
	PathStats    = "/v1/stats"
	PathServices = "/v1/services"
	PathAllow    = "/v1/allow"   // GET ?service=, POST add, DELETE remove
	PathDeny     = "/v1/deny"    // GET, POST add, DELETE remove
	PathCountry  = "/v1/country" // GET ?service=, POST add, DELETE remove
	// PathCountryReset drops a service's runtime country changes: POST
	// {"service": NAME}.
	PathCountryReset = "/v1/country/reset"
	PathReload       = "/v1/reload" // POST
	PathCheck        = "/v1/check"  // GET ?ip=&service= | &port=&proto=
	// PathGeoIPReload re-reads only the GeoIP database in force, not the
	// config file: POST, for `enforcer geoip update`.
	PathGeoIPReload = "/v1/geoip/reload"
)

// Status is the daemon's state.
type Status struct {
	Version    string            `json:"version"`
	Started    time.Time         `json:"started"`
	Uptime     string            `json:"uptime"`
	ConfigPath string            `json:"config_path"`
	StateDir   string            `json:"state_dir"`
	PinDir     string            `json:"pin_dir"`
	Interfaces []InterfaceStatus `json:"interfaces"` // the configured ones
	// Links are every XDP link pinned in PinDir: the configured
	// interfaces' and any left by an older configuration or mode.
	Links []LinkStatus `json:"links"`
	// PinWarning says why the pins will not outlive the daemon (a private
	// bpffs); "" when they will.
	PinWarning string        `json:"pin_warning,omitempty"`
	Program    ProgramStatus `json:"program"`
	GeoIP      GeoIPStatus   `json:"geoip"`
	Table      TableStatus   `json:"table"`
	Revision   uint64        `json:"revision"` // state store revision applied
	L7         *L7Status     `json:"l7,omitempty"`
	// Servers are what the daemon serves and runs in the background:
	// admin socket, admin page, metrics, proxy, push API, pull sync.
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus is one server or background loop of the daemon.
type ServerStatus struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // where it listens (the pull sync: its URL)
	// Error is why it stopped on its own: it serves nothing until the
	// daemon restarts. "" while it runs.
	Error string `json:"error,omitempty"`
}

// InterfaceStatus is one guarded interface.
type InterfaceStatus struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"` // native or generic
	Error string `json:"error,omitempty"`
}

// LinkStatus is one pinned XDP link.
type LinkStatus struct {
	Pin       string `json:"pin"`
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"` // 0: the interface is gone
	Mode      string `json:"mode,omitempty"`
	ProgramID uint32 `json:"program_id"`
	// InConfig is set when the link is one of the configured interfaces
	// in the daemon's network namespace; a link without it is left over
	// and still runs its program.
	InConfig bool   `json:"in_config"`
	Note     string `json:"note,omitempty"`
}

// ProgramStatus identifies the loaded XDP program.
type ProgramStatus struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	Tag  string `json:"tag"`
}

// GeoIPStatus describes the loaded database.
type GeoIPStatus struct {
	Path      string    `json:"path"`
	Type      string    `json:"type,omitempty"`
	BuildTime time.Time `json:"build_time,omitempty"`
	Age       string    `json:"age,omitempty"`
	Networks  int       `json:"networks"`
	Error     string    `json:"error,omitempty"` // why none is loaded
}

// TableStatus is the size of what the datapath holds.
type TableStatus struct {
	Cells     int `json:"cells"`
	Bytes     int `json:"bytes"`
	Classes   int `json:"classes"`
	Services  int `json:"services"`
	Allow     int `json:"allow_entries"`
	Deny      int `json:"deny_entries"`
	Countries int `json:"country_networks"`
}

// StatsRow is one datapath counter.
type StatsRow struct {
	Service string `json:"service"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// CountryRow is drops by source country.
type CountryRow struct {
	Country string `json:"country"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Stats is every non-zero counter.
type Stats struct {
	Rows      []StatsRow   `json:"rows"`
	Countries []CountryRow `json:"countries"`
}

// ServiceView is a service as enforced: the config file's entry with the
// state store's changes applied.
type ServiceView struct {
	Name         string   `json:"name"`
	ID           uint8    `json:"id"`
	Protocols    []string `json:"protocols"`
	Ports        []uint16 `json:"ports"`
	Destinations []string `json:"destinations,omitempty"`
	Geofenced    bool     `json:"geofenced"`
	// Admit is who the service admits: "listed" (its allowlist and, when
	// geofenced, its countries) or "all" (every source not in the deny
	// list; the allowlist has no effect).
	Admit     string   `json:"admit"`
	Countries []string `json:"countries"` // in force: the file's with the runtime changes
	// CountriesAdded are the runtime additions (`enforcer country add`).
	CountriesAdded []string `json:"countries_added,omitempty"`
	// CountriesRemoved are runtime removals of countries of the file,
	// recorded by enforcer before 2026-12 (today's `country remove`
	// refuses those): they override the file until `enforcer country
	// reset` or `country add` drops them.
	CountriesRemoved []string `json:"countries_removed,omitempty"`
	Allow            []Entry  `json:"allow"`
	// Derived names the config field a derived service comes from
	// ("proxy.upstream"); "" for a service of the file.
	Derived string `json:"derived,omitempty"`
}

// Entry is one CIDR of an allow or deny list.
type Entry struct {
	CIDR    string    `json:"cidr"`
	Comment string    `json:"comment,omitempty"`
	Source  string    `json:"source"` // "config" or "cli"
	Added   time.Time `json:"added,omitempty"`
	// Expires is when a runtime entry added with --expires stops being
	// in force and is removed; absent for a permanent one. ExpiresIn is
	// the time left when the daemon answered, e.g. "7h59m".
	Expires   time.Time `json:"expires,omitzero"`
	ExpiresIn string    `json:"expires_in,omitempty"`
}

// ListChange adds or removes CIDRs (allow, deny) or countries.
type ListChange struct {
	Service string   `json:"service,omitempty"`
	Items   []string `json:"items"`
	Comment string   `json:"comment,omitempty"`
	// Expires makes added allow or deny entries temporary: a duration
	// from now ("8h", "90m") or an RFC 3339 time. "" for permanent.
	Expires string `json:"expires,omitempty"`
}

// ChangeResult says what a change did.
type ChangeResult struct {
	Changed  int    `json:"changed"`  // entries actually added or removed
	Revision uint64 `json:"revision"` // state revision now in effect
}

// CheckResult is a verdict and the rule that decided it: what `enforcer
// check` prints, worked out by policy/explain in the daemon or, with
// --offline, in the CLI.
type CheckResult = explain.Result
