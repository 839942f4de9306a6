package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/httperror"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
	"github.com/mailgate/enforcer/policy/explain"
	"github.com/mailgate/enforcer/policy/iprange"
	"github.com/mailgate/enforcer/policy/store"
)

// maxBody bounds a request body: lists of tens of thousands of CIDRs fit.
const maxBody = 16 << 20

// badRequest and notFound are problems with the request, answered with
// their message as is (httperror: any other error is a 500).
func badRequest(format string, a ...any) error { return httperror.BadRequest(format, a...) }

func notFound(format string, a ...any) error { return httperror.NotFound(format, a...) }

// decodeJSON reads a request body into v, refusing unknown fields.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	get := func(path string, f func(r *http.Request) (any, error)) { mux.HandleFunc("GET "+path, d.handle(f)) }
	d.deviceRoutes(get, mux)
	mux.HandleFunc("GET "+adminapi.PathExport, d.exportHandler)
	get(adminapi.PathStatus, d.status)
	get(adminapi.PathStats, d.stats)
	get(adminapi.PathServices, d.services)
	get(adminapi.PathServices+"/{name}", d.service)
	get(adminapi.PathAllow, d.listAllow)
	get(adminapi.PathDeny, d.listDeny)
	get(adminapi.PathCountry, d.listCountry)
	get(adminapi.PathCheck, d.check)
	mux.HandleFunc("POST "+adminapi.PathAllow, d.handle(d.change(kindAllow, true)))
	mux.HandleFunc("DELETE "+adminapi.PathAllow, d.handle(d.change(kindAllow, false)))
	mux.HandleFunc("POST "+adminapi.PathDeny, d.handle(d.change(kindDeny, true)))
	mux.HandleFunc("DELETE "+adminapi.PathDeny, d.handle(d.change(kindDeny, false)))
	mux.HandleFunc("POST "+adminapi.PathCountry, d.handle(d.change(kindCountry, true)))
	mux.HandleFunc("DELETE "+adminapi.PathCountry, d.handle(d.change(kindCountry, false)))
	mux.HandleFunc("POST "+adminapi.PathCountryReset, d.handle(d.resetCountries))
	mux.HandleFunc("POST "+adminapi.PathReload, d.handle(func(*http.Request) (any, error) {
		if err := d.Reload(); err != nil {
			if _, ok := errors.AsType[*attachError](err); ok {
				return nil, httperror.Wrap(http.StatusBadRequest, err)
			}
			return nil, badRequest("%v (the previous configuration stays in force)", err)
		}
		return map[string]string{"result": "reloaded"}, nil
	}))
	mux.HandleFunc("POST "+adminapi.PathGeoIPReload, d.handle(func(*http.Request) (any, error) {
		if err := d.ReloadGeoIP(); err != nil {
			return nil, err
		}
		return map[string]string{"result": "reloaded"}, nil
	}))
	return mux
}

func (d *Daemon) handle(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, err := f(r)
		if err != nil {
			d.log.Warn("admin request failed", "method", r.Method, "path", r.URL.Path, "status", httperror.StatusOf(err), "error", err)
			httperror.Write(w, err)
			return
		}
		httperror.WriteJSON(w, http.StatusOK, v)
	}
}

func (d *Daemon) status(*http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := adminapi.Status{
		Version:    d.opts.Version,
		Started:    d.started,
		Uptime:     time.Since(d.started).Round(time.Second).String(),
		ConfigPath: d.opts.ConfigPath,
		StateDir:   d.cfg.StateDir,
		PinDir:     d.cfg.BPFFSDir,
		Interfaces: slices.Clone(d.ifaces),
		Revision:   d.now.state.Revision,
		GeoIP:      adminapi.GeoIPStatus{Path: d.geo.path, Networks: len(d.geo.networks)},
		Table: adminapi.TableStatus{Cells: d.now.table.Cells, Bytes: d.now.table.Bytes(), Classes: d.now.table.Classes,
			Services: len(d.now.pol.Services), Deny: len(d.now.pol.Deny), Countries: len(d.now.pol.Networks)},
	}
	for _, svc := range d.now.pol.Services {
		s.Table.Allow += len(svc.Allow)
	}
	if d.geo.err != nil {
		s.GeoIP.Error = d.geo.err.Error()
	} else {
		s.GeoIP.Type = d.geo.meta.DatabaseType
		s.GeoIP.BuildTime = d.geo.meta.BuildTime
		s.GeoIP.Age = Age(time.Since(d.geo.meta.BuildTime))
	}
	s.Links = d.links()
	s.PinWarning = d.pinWarning
	if d.gw != nil {
		l7, _ := d.l7StatusLocked(d.cfg)
		s.L7 = &l7
		s.Servers = append(s.Servers, d.gw.servers.status()...)
	}
	if d.servers != nil {
		s.Servers = append(s.Servers, d.servers.status()...)
	}
	if info, err := d.dp.Program().Info(); err == nil {
		id, _ := info.ID()
		s.Program = adminapi.ProgramStatus{ID: uint32(id), Name: info.Name, Tag: info.Tag}
	}
	return s, nil
}

// links lists the pinned XDP links, marking those the configuration does
// not name.
func (d *Daemon) links() []adminapi.LinkStatus {
	pls, err := loader.PinnedLinks(d.cfg.BPFFSDir)
	if err != nil {
		return []adminapi.LinkStatus{{Pin: d.cfg.BPFFSDir, Note: err.Error()}}
	}
	out := []adminapi.LinkStatus{}
	for _, pl := range pls {
		ls := adminapi.LinkStatus{Pin: pl.Pin, Interface: pl.Interface, Ifindex: pl.Ifindex, Mode: pl.Mode, ProgramID: pl.ProgramID}
		ls.InConfig = !pl.OtherNetns && slices.ContainsFunc(d.cfg.Interfaces, func(i config.Interface) bool { return i.Name == pl.Interface })
		switch {
		case pl.Error != "":
			ls.Note = "unreadable: " + pl.Error
		case pl.OtherNetns:
			ls.Note = fmt.Sprintf("made in another network namespace (inode %d); remove the pin when it is no longer wanted", pl.Netns)
		case pl.Ifindex == 0:
			ls.Note = "its interface is gone; it guards nothing"
		case !ls.InConfig:
			ls.Note = "not in the configuration: still enforcing; remove the pin (rm " + pl.Pin + ") to detach it"
		}
		out = append(out, ls)
	}
	return out
}

// Age says how long ago something happened in the unit an operator reads
// at a glance: minutes below an hour, hours below two days, then days.
func Age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

func (d *Daemon) stats(*http.Request) (any, error) {
	c, err := d.dp.Counters()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	names := d.names()
	d.mu.Unlock()
	return StatsFrom(c, names), nil
}

func (d *Daemon) services(*http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []adminapi.ServiceView
	for _, s := range d.cfg.Services {
		out = append(out, d.view(s))
	}
	return out, nil
}

func (d *Daemon) service(r *http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookupService(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return d.view(*s), nil
}

// view shows a config service with the state's changes applied.
func (d *Daemon) view(s config.Service) adminapi.ServiceView {
	o := d.now.state.Countries[s.Name]
	v := adminapi.ServiceView{Name: s.Name, ID: d.now.ids[s.Name], Ports: s.Ports, Geofenced: s.Geofence,
		Countries: store.ApplyCountries(s.Countries, o), CountriesAdded: o.Added, CountriesRemoved: o.Removed, Derived: s.Derived, Admit: "listed"}
	if s.AdmitAll {
		v.Admit = "all"
	}
	for _, p := range s.Protocols {
		v.Protocols = append(v.Protocols, p.String())
	}
	for _, p := range s.Destinations {
		v.Destinations = append(v.Destinations, p.String())
	}
	v.Allow = entries(s.Allow, d.now.state.Allow[s.Name], time.Now())
	return v
}

// entries lists the file's entries and the state's, leaving out those
// expired at now (the next expiry timer deletes them).
func entries(cfg []config.Entry, st []store.Entry, now time.Time) []adminapi.Entry {
	out := []adminapi.Entry{}
	for _, e := range cfg {
		out = append(out, adminapi.Entry{CIDR: e.Prefix.String(), Comment: e.Comment, Source: "config"})
	}
	for _, e := range st {
		if e.Expired(now) {
			continue
		}
		a := adminapi.Entry{CIDR: e.Prefix.String(), Comment: e.Comment, Source: "cli", Added: e.AddedAt}
		if !e.ExpiresAt.IsZero() {
			a.Expires, a.ExpiresIn = e.ExpiresAt, timeLeft(e.ExpiresAt.Sub(now))
		}
		out = append(out, a)
	}
	return out
}

// timeLeft shows a duration to the second, e.g. "7h59m58s".
func timeLeft(d time.Duration) string {
	return max(d, 0).Truncate(time.Second).String()
}

// parseExpiry reads --expires: a positive duration from now, or an RFC
// 3339 time after now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, badRequest("--expires %q: want a duration after now, e.g. 8h", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badRequest("--expires %q: want a duration such as 8h or 90m, or an RFC 3339 time such as 2026-12-24T18:00:00Z", s)
	}
	if !t.After(now) {
		return time.Time{}, badRequest("--expires %q: that time has passed", s)
	}
	return t, nil
}

func (d *Daemon) lookupService(name string) (*config.Service, error) {
	if name == "" {
		return nil, badRequest("no service given; name one with --service (see `enforcer service list`)")
	}
	s := d.cfg.Service(name)
	if s == nil {
		var names []string
		for _, s := range d.cfg.Services {
			names = append(names, s.Name)
		}
		return nil, badRequest("no service %q; the services are: %s", name, strings.Join(names, ", "))
	}
	return s, nil
}

func (d *Daemon) listAllow(r *http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookupService(r.URL.Query().Get("service"))
	if err != nil {
		return nil, err
	}
	return entries(s.Allow, d.now.state.Allow[s.Name], time.Now()), nil
}

func (d *Daemon) listDeny(*http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return entries(d.cfg.Deny, d.now.state.Deny, time.Now()), nil
}

func (d *Daemon) listCountry(r *http.Request) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookupService(r.URL.Query().Get("service"))
	if err != nil {
		return nil, err
	}
	return store.ApplyCountries(s.Countries, d.now.state.Countries[s.Name]), nil
}

type listKind int

const (
	kindAllow listKind = iota
	kindDeny
	kindCountry
)

// change adds or removes list items: persisted in the state store before
// the datapath is updated, and both before the answer.
func (d *Daemon) change(kind listKind, add bool) func(r *http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		var req adminapi.ListChange
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return nil, badRequest("request body: %v", err)
		}
		if len(req.Items) == 0 {
			return nil, badRequest("nothing to change: give at least one item")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		var svc *config.Service
		if kind != kindDeny {
			var err error
			if svc, err = d.lookupService(req.Service); err != nil {
				return nil, err
			}
			if !svc.Protected() {
				return nil, badRequest("service %q is never enforced by the datapath (SMTP must accept mail from anywhere)", svc.Name)
			}
		}
		n, err := d.store(kind, add, svc, req)
		if err != nil {
			return nil, err
		}
		return d.applyChanged(n)
	}
}

// applyChanged puts n stored changes in force and answers with them. The
// caller holds d.mu.
func (d *Daemon) applyChanged(n int) (adminapi.ChangeResult, error) {
	if n > 0 {
		if err := d.apply(); err != nil {
			return adminapi.ChangeResult{}, fmt.Errorf("saved, but applying to the datapath failed (it will be retried on the next change or reload): %w", err)
		}
	}
	return adminapi.ChangeResult{Changed: n, Revision: d.now.state.Revision}, nil
}

func (d *Daemon) store(kind listKind, add bool, svc *config.Service, req adminapi.ListChange) (int, error) {
	if kind == kindCountry {
		if req.Expires != "" {
			return 0, badRequest("--expires applies to allow and deny entries, not to countries")
		}
		if !svc.Geofence {
			return 0, badRequest("service %q is not geofenced, so countries have no effect; to geofence it, give it countries or geofence: true in %s and run `enforcer reload`", svc.Name, d.opts.ConfigPath)
		}
		codes := make([]string, len(req.Items))
		for i, c := range req.Items {
			codes[i] = strings.TrimSpace(c)
			if err := config.CheckCountry(codes[i]); err != nil {
				return 0, badRequest("argument %d: %v", i+1, err)
			}
		}
		return d.storeCountries(add, svc, codes)
	}
	prefixes, err := parsePrefixes(req.Items)
	if err != nil {
		return 0, err
	}
	var expires time.Time
	if req.Expires != "" {
		if !add {
			return 0, badRequest("--expires applies to add only; remove takes the entries out now")
		}
		if expires, err = parseExpiry(req.Expires, time.Now()); err != nil {
			return 0, err
		}
	}
	fromConfig := d.cfg.Deny
	if kind == kindAllow {
		fromConfig = svc.Allow
	}
	if err := compose.CheckEntries(d.opts.ConfigPath, add, entryPrefixes(fromConfig), prefixes); err != nil {
		return 0, badRequest("%v", err)
	}
	if add {
		es := make([]store.Entry, len(prefixes))
		for i, p := range prefixes {
			es[i] = store.Entry{Prefix: p, Comment: req.Comment, AddedBy: "cli", ExpiresAt: expires}
		}
		if kind == kindAllow {
			return d.st.AddAllow(svc.Name, es)
		}
		return d.st.AddDeny(es)
	}
	if kind == kindAllow {
		return d.st.RemoveAllow(svc.Name, prefixes)
	}
	return d.st.RemoveDeny(prefixes)
}

// storeCountries adds or removes countries like allowlist entries, by
// the rules of compose.SplitCountries.
func (d *Daemon) storeCountries(add bool, svc *config.Service, codes []string) (int, error) {
	clear, put, err := compose.SplitCountries(d.opts.ConfigPath, add, svc.Countries, d.now.state.Countries[svc.Name], codes)
	if err != nil {
		return 0, badRequest("%v", err)
	}
	n := 0
	if len(clear) > 0 {
		c, err := d.st.ClearCountries(svc.Name, clear)
		if err != nil {
			return 0, err
		}
		n += c
	}
	if len(put) > 0 {
		c, err := d.st.AddCountries(svc.Name, put)
		if err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

// resetCountries drops every runtime country change of a service: its
// countries are the file's again.
func (d *Daemon) resetCountries(r *http.Request) (any, error) {
	var req adminapi.ListChange
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	svc, err := d.lookupService(req.Service)
	if err != nil {
		return nil, err
	}
	n, err := d.st.ResetCountries(svc.Name)
	if err != nil {
		return nil, err
	}
	return d.applyChanged(n)
}

// entryPrefixes are the prefixes of the config file's entries es.
func entryPrefixes(es []config.Entry) []netip.Prefix {
	out := make([]netip.Prefix, len(es))
	for i, e := range es {
		out[i] = e.Prefix
	}
	return out
}

// parsePrefixes accepts CIDRs, bare addresses (as /32 or /128) and
// address ranges FROM-TO (as their minimal CIDR cover); a CIDR with host
// bits set is refused with the canonical form as a hint.
func parsePrefixes(items []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(items))
	for i, s := range items {
		s = strings.TrimSpace(s)
		if iprange.IsRange(s) {
			ps, err := iprange.Parse(s)
			if err != nil {
				return nil, badRequest("argument %d: %v", i+1, err)
			}
			out = append(out, ps...)
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, badRequest("argument %d: %q is not a CIDR prefix or address (want e.g. 192.0.2.0/24 or 2001:db8::/32)", i+1, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Masked() != p {
			return nil, badRequest("argument %d: %q has host bits set; did you mean %v?", i+1, s, p.Masked())
		}
		out = append(out, policy.Normalize(p))
	}
	return out, nil
}

func (d *Daemon) check(r *http.Request) (any, error) {
	q := r.URL.Query()
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := explain.Check(d.now.pol, d.now.model, explain.Query{IP: q.Get("ip"), Service: q.Get("service"), Port: q.Get("port"), Proto: q.Get("proto")})
	var qe *explain.QueryError
	if errors.As(err, &qe) {
		return nil, badRequest("%v", err)
	}
	return res, err
}
