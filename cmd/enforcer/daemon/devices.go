package daemon

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/csvcell"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/devicesync"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/httperror"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
)

// deviceRoutes adds the device, policy and log paths. Read-only paths
// go to both muxes; changes only to the unix socket's.
func (d *Daemon) deviceRoutes(get func(string, func(*http.Request) (any, error)), mux *http.ServeMux) {
	get(adminapi.PathDevices, d.listDevices)
	get(adminapi.PathDevice, d.showDevice)
	get(adminapi.PathPolicy, d.showPolicy)
	get(adminapi.PathPolicyCheck, d.checkPolicy)
	get(adminapi.PathLog, d.logSettings)
	get(adminapi.PathL7, d.l7Status)
	if mux == nil {
		return
	}
	mux.HandleFunc("POST "+adminapi.PathOverride, d.handle(d.setOverride))
	mux.HandleFunc("POST "+adminapi.PathImport, d.handle(d.importDevices))
	mux.HandleFunc("PUT "+adminapi.PathLog, d.handle(d.changeLog))
	mux.HandleFunc("GET "+adminapi.PathAttachmentKey, d.handle(d.attachmentKey))
}

// attachmentKey returns a device-user pair's attachment key.
func (d *Daemon) attachmentKey(r *http.Request) (any, error) {
	q := r.URL.Query()
	id, user := q.Get("device_id"), q.Get("user")
	if strings.TrimSpace(id) == "" || strings.TrimSpace(user) == "" {
		return nil, badRequest("give device_id and user: the key is unique to the pair")
	}
	rules := d.gw.transforms.Load()
	if rules == nil || rules.Master == nil {
		return nil, notFound("no attachment encryption configured (transforms.attachments)")
	}
	k := rules.Master.Key(id, user)
	d.log.Info("attachment key looked up", "device", id, "user", user, "key_id", k.KeyID())
	return adminapi.AttachmentKey{DeviceID: id, User: user, KeyID: k.KeyID(), Key: base64.StdEncoding.EncodeToString(k[:]), Format: "enforcer attachment v1 (ENFA)"}, nil
}

// exportHandler serves the CSV downloads.
func (d *Daemon) exportHandler(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var buf bytes.Buffer
	var err error
	switch name {
	case "devices.csv":
		err = device.WriteCSV(&buf, d.gw.store.Records())
	case "discovered.csv":
		err = writeDiscoveredCSV(&buf, d.gw.store.DiscoveredDevices())
	case "accounts.csv":
		err = writeAccountsCSV(&buf, d.gw)
	case "attachments.csv":
		err = writeAttachmentPolicyCSV(&buf, d.cfgSnapshot().Transforms)
	case "redirects.csv":
		if d.gw.proxy == nil {
			err = notFound("no proxy configured: there are no 451 redirect mappings")
			break
		}
		err = d.gw.proxy.WriteRedirectsCSV(&buf)
	default:
		err = notFound("no export %q; there are devices.csv, discovered.csv, accounts.csv, attachments.csv and redirects.csv", name)
	}
	if err != nil {
		d.handle(func(*http.Request) (any, error) { return nil, err })(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write(buf.Bytes())
}

// view joins a device's record, discovery and decision.
// overrides are the administrator's (DB.Overrides), by folded device id.
func (g *gateway) view(id string, rec *device.Record, now time.Time, overrides map[string]device.Override) adminapi.DeviceView {
	v := adminapi.DeviceView{DeviceID: id, Override: device.OverrideDefault.String()}
	ident := device.Identity{DeviceID: id}
	if rec != nil {
		v.DeviceID, v.User, v.HasRecord = rec.DeviceID, rec.User, true
		v.Managed, v.Platform, v.Model, v.OSVersion, v.EASProfile = rec.Managed, rec.Platform, rec.Model, rec.OSVersion, rec.EASProfile
		v.Compromised, v.Encrypted = rec.Compromised.String(), rec.Encrypted.String()
		v.Override = rec.Override.String()
		v.LastCheckIn, v.Updated = timePtr(rec.LastCheckIn), timePtr(rec.Updated)
		ident.User = rec.User
	}
	if o, ok := overrides[device.Fold(v.DeviceID)]; ok {
		v.AdminSet = true
		v.Override = o.String()
	}
	if ds, ok := g.store.LookupDiscovered(v.DeviceID); ok {
		v.Seen = true
		v.DeviceType, v.UserAgent, v.SourceIP = ds.DeviceType, ds.UserAgent, addrString(ds.SourceIP)
		if ds.LastCommand.Known() {
			v.LastCommand = ds.LastCommand.String()
		}
		v.FirstSeen, v.LastSeen, v.Requests = timePtr(ds.FirstSeen), timePtr(ds.LastSeen), ds.Requests
		if v.User == "" {
			v.User = ds.User
		}
		ident = device.Identity{User: ds.User, DeviceID: ds.DeviceID, DeviceType: ds.DeviceType, UserAgent: ds.UserAgent,
			Command: ds.LastCommand, ProtocolVersion: ds.ProtocolVersion, SourceIP: ds.SourceIP}
	}
	v.Decision = decisionView(device.Decide(ident, rec, g.policy(), now))
	return v
}

func decisionView(dec device.Decision) adminapi.DecisionView {
	v := adminapi.DecisionView{Action: dec.Action.String(), Reason: string(dec.Reason), Rule: dec.Rule, TestMode: dec.TestMode}
	if dec.TestMode {
		v.Intended = dec.Intended.String()
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// listDevices lists records and discovered devices, filtered. The filters
// match without regard to case; '*' and '?' are wildcards.
func (d *Daemon) listDevices(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit := 1000
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, badRequest("limit %q: want a positive number", s)
		}
		limit = n
	}
	var over device.Override
	filterOverride := q.Get("override") != ""
	if filterOverride {
		var err error
		if over, err = device.ParseOverride(q.Get("override")); err != nil {
			return nil, badRequest("override: %v", err)
		}
	}
	g, now := d.gw, time.Now()
	overrides, err := g.db.Overrides()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []adminapi.DeviceView
	add := func(v adminapi.DeviceView) {
		if !glob(q.Get("user"), v.User) || !glob(q.Get("type"), v.DeviceType) || !glob(q.Get("client"), v.UserAgent) ||
			!glob(q.Get("id"), v.DeviceID) || filterOverride && v.Override != over.String() {
			return
		}
		out = append(out, v)
	}
	for _, rec := range g.store.Records() {
		seen[device.Fold(rec.DeviceID)] = true
		add(g.view(rec.DeviceID, rec, now, overrides))
	}
	for _, ds := range g.store.DiscoveredDevices() {
		if !seen[device.Fold(ds.DeviceID)] {
			add(g.view(ds.DeviceID, nil, now, overrides))
		}
	}
	slices.SortFunc(out, func(a, b adminapi.DeviceView) int {
		return cmp.Compare(device.Fold(a.DeviceID), device.Fold(b.DeviceID))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []adminapi.DeviceView{}
	}
	return out, nil
}

// glob matches s against pattern as device policies match ('*', '?',
// ignoring case); a pattern without wildcards matches any value that
// contains it; "" matches all.
func glob(pattern, s string) bool {
	switch {
	case pattern == "":
		return true
	case !strings.ContainsAny(pattern, "*?"):
		return strings.Contains(device.Fold(s), device.Fold(pattern))
	}
	return device.Match(pattern, s)
}

func (d *Daemon) showDevice(r *http.Request) (any, error) {
	id := r.PathValue("id")
	rec := d.gw.store.Lookup(id)
	if rec == nil {
		if _, ok := d.gw.store.LookupDiscovered(id); !ok {
			return nil, notFound("no device %q: it has no record and has not been seen (`enforcer device list` lists them)", id)
		}
	}
	return d.gw.viewOne(id, rec)
}

func (g *gateway) viewOne(id string, rec *device.Record) (adminapi.DeviceView, error) {
	overrides, err := g.db.Overrides()
	if err != nil {
		return adminapi.DeviceView{}, err
	}
	return g.view(id, rec, time.Now(), overrides), nil
}

func (d *Daemon) setOverride(r *http.Request) (any, error) {
	id := r.PathValue("id")
	var req adminapi.OverrideChange
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	o, err := device.ParseOverride(req.Override)
	if err != nil {
		return nil, badRequest("override: %v", err)
	}
	if strings.TrimSpace(id) == "" {
		return nil, badRequest("no device id")
	}
	if err := d.gw.db.SetOverride(d.gw.store, id, o); err != nil {
		return nil, err
	}
	d.log.Info("device override set", "device", id, "override", o.String())
	return d.gw.viewOne(id, d.gw.store.Lookup(id))
}

func (d *Daemon) importDevices(r *http.Request) (any, error) {
	name := cmp.Or(r.URL.Query().Get("name"), "import.csv")
	recs, err := device.ReadCSV(r.Body, name)
	if err != nil {
		return nil, httperror.Wrap(http.StatusBadRequest, err)
	}
	res, err := d.gw.db.Apply(d.gw.store, devicesync.Change{Upsert: recs, Time: time.Now()}, nil)
	if err != nil {
		if _, ok := errors.AsType[*devicesync.ChangeError](err); ok {
			return nil, badRequest("%s: %v", name, err)
		}
		return nil, err
	}
	d.log.Info("device records imported", "result", res)
	return res, nil
}

func (d *Daemon) showPolicy(*http.Request) (any, error) {
	g := d.gw
	v := adminapi.PolicyView{Source: g.policySource(), Records: g.store.Len(), Discovered: len(g.store.DiscoveredDevices())}
	pol := g.policy()
	cfg := d.cfgSnapshot()
	v.AllowMailIfNoPolicy = cfg.Devices.AllowMailIfNoPolicy
	switch doc, _ := g.db.Transforms(); {
	case cfg.Transforms.Enabled:
		v.Transforms, v.TransformsSource = string(config.MarshalTransforms(cfg.Transforms)), "config"
	case doc != nil && g.transforms.Load() != nil:
		if t, err := config.ParseRemoteTransforms("transforms", doc); err == nil {
			v.Transforms, v.TransformsSource = string(config.MarshalTransforms(t)), "device-management"
		}
	}
	if pol.Loaded() {
		c := pol.Config()
		v.Revision, v.TestMode = c.Revision, c.TestMode
		v.YAML = string(config.MarshalDevicePolicy(c))
	}
	if v.Source == "config" && g.store.Policy().Loaded() {
		v.SyncedRevision = g.store.Policy().Config().Revision
		if v.SyncedRevision == "" {
			v.SyncedRevision = "(unnamed)"
		}
	}
	return v, nil
}

// checkPolicy decides for a device described by the query: the policy
// look-up by device id, user, device type and mail client.
func (d *Daemon) checkPolicy(r *http.Request) (any, error) {
	q := r.URL.Query()
	id := device.Identity{DeviceID: q.Get("device_id"), User: q.Get("user"), DeviceType: q.Get("type"),
		UserAgent: q.Get("agent"), DeviceModel: q.Get("model"), DeviceOS: q.Get("os"), Command: eas.Sync}
	if id.DeviceID == "" && id.User == "" && id.DeviceType == "" && id.UserAgent == "" {
		return nil, badRequest("describe the device: device_id, user, type, agent (User-Agent), model or os")
	}
	if s := q.Get("ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, badRequest("ip %q: not an address", s)
		}
		id.SourceIP = a
	}
	var rec *device.Record
	if id.DeviceID != "" {
		rec = d.gw.store.Lookup(id.DeviceID)
	}
	dec := decisionView(device.Decide(id, rec, d.gw.policy(), time.Now()))
	return struct {
		Identity  map[string]string     `json:"identity"`
		HasRecord bool                  `json:"has_record"`
		Decision  adminapi.DecisionView `json:"decision"`
	}{map[string]string{"device_id": id.DeviceID, "user": id.User, "type": id.DeviceType, "agent": id.UserAgent,
		"client": id.MailClient(), "model": id.DeviceModel, "os": id.DeviceOS}, rec != nil, dec}, nil
}

func (d *Daemon) logSettings(*http.Request) (any, error) {
	s := adminapi.LogSettings{Level: strings.ToLower(d.level.Level().String()), Users: []string{}, Devices: []string{}}
	if p := d.gw.proxy; p != nil {
		s.Users, s.Devices = p.Targets().Users(), p.Targets().Devices()
	}
	return s, nil
}

func (d *Daemon) changeLog(r *http.Request) (any, error) {
	var req adminapi.LogChange
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	var lvl slog.Level
	if req.Level != "" {
		if err := lvl.UnmarshalText([]byte(req.Level)); err != nil {
			return nil, badRequest("level %q: want debug, info, warn or error", req.Level)
		}
	}
	targets := len(req.AddUsers)+len(req.RemoveUsers)+len(req.AddDevices)+len(req.RemoveDevices) > 0 || req.Clear
	if targets && d.gw.proxy == nil {
		return nil, badRequest("no proxy configured: there are no requests to log verbosely")
	}
	if req.Level != "" {
		d.level.Set(lvl)
		d.log.Info("log level changed", "level", lvl)
	}
	if p := d.gw.proxy; p != nil {
		t := p.Targets()
		if req.Clear {
			t.Clear()
		}
		for _, u := range req.AddUsers {
			t.AddUser(u)
		}
		for _, u := range req.RemoveUsers {
			t.RemoveUser(u)
		}
		for _, id := range req.AddDevices {
			t.AddDevice(id)
		}
		for _, id := range req.RemoveDevices {
			t.RemoveDevice(id)
		}
		if targets {
			d.log.Info("verbose logging targets changed", "users", t.Users(), "devices", t.Devices())
		}
	}
	return d.logSettings(r)
}

func (d *Daemon) l7Status(*http.Request) (any, error) {
	return d.l7StatusLocked(d.cfgSnapshot())
}

// l7StatusLocked reports the L7 state under cfg (the caller holds d.mu or
// passes a snapshot).
func (d *Daemon) l7StatusLocked(cfg *config.Config) (adminapi.L7Status, error) {
	g := d.gw
	s := adminapi.L7Status{PolicySource: g.policySource(), Records: g.store.Len(), Discovered: len(g.store.DiscoveredDevices()),
		Push: cfg.Devices.Push.Listen, Pull: cfg.Devices.Pull.URL}
	if g.proxy != nil {
		s.Proxy, s.Listen, s.Upstream = true, cfg.Proxy.Listen, cfg.Proxy.Upstream
		s.OpenConns, s.Redirects = g.proxy.OpenConns(), len(g.proxy.Redirects())
	}
	return s, nil
}

func writeDiscoveredCSV(w io.Writer, ds []device.Discovered) error {
	cw := csvcell.NewWriter(w)
	cw.Write("device_id", "user", "device_type", "user_agent", "last_command", "protocol_version", "source_ip", "first_seen", "last_seen", "requests")
	slices.SortFunc(ds, func(a, b device.Discovered) int { return cmp.Compare(device.Fold(a.DeviceID), device.Fold(b.DeviceID)) })
	for _, x := range ds {
		cmd := ""
		if x.LastCommand.Known() {
			cmd = x.LastCommand.String()
		}
		ver := ""
		if x.ProtocolVersion != (eas.Version{}) {
			ver = x.ProtocolVersion.String()
		}
		cw.Write(x.DeviceID, x.User, x.DeviceType, x.UserAgent, cmd, ver,
			addrString(x.SourceIP), x.FirstSeen.UTC().Format(time.RFC3339), x.LastSeen.UTC().Format(time.RFC3339), strconv.FormatUint(x.Requests, 10))
	}
	return cw.Flush()
}

// writeAccountsCSV lists the accounts the gateway knows (from records and
// from requests), with their devices and what the policy's user lists say
// of them.
func writeAccountsCSV(w io.Writer, g *gateway) error {
	type account struct {
		name    string
		devices []string
	}
	accts := map[string]*account{}
	note := func(user, id string) {
		if user == "" {
			return
		}
		k := eas.NormalizeUser(user)
		a := accts[k]
		if a == nil {
			a = &account{name: user}
			accts[k] = a
		}
		if !slices.Contains(a.devices, id) {
			a.devices = append(a.devices, id)
		}
	}
	for _, r := range g.store.Records() {
		note(r.User, r.DeviceID)
	}
	for _, ds := range g.store.DiscoveredDevices() {
		note(ds.User, ds.DeviceID)
	}
	keys := make([]string, 0, len(accts))
	for k := range accts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cw := csvcell.NewWriter(w)
	cw.Write("user", "devices", "device_ids", "user_policy", "reason")
	pol, now := g.policy(), time.Now()
	for _, k := range keys {
		a := accts[k]
		slices.Sort(a.devices)
		// The user lists alone: an identity with nothing but the user.
		dec := device.Decide(device.Identity{User: a.name}, nil, pol, now)
		verdict, reason := "allow", ""
		if dec.Reason == device.ReasonUserBlocked || dec.Reason == device.ReasonUserNotAllowed {
			verdict, reason = dec.Action.String(), string(dec.Reason)
		}
		cw.Write(a.name, strconv.Itoa(len(a.devices)), strings.Join(a.devices, " "), verdict, reason)
	}
	return cw.Flush()
}

// writeAttachmentPolicyCSV lists the attachment policy in force: one row
// per rule, in the order they are tried, then each kind's default.
func writeAttachmentPolicyCSV(w io.Writer, t transform.Config) error {
	cw := csvcell.NewWriter(w)
	cw.Write("devices", "order", "extensions", "content_types", "action")
	if a := t.Attachments; t.Enabled && a != nil {
		for _, kind := range []struct {
			name string
			set  attach.RuleSet
		}{{"managed", a.Managed}, {"unmanaged", a.Unmanaged}} {
			for i, r := range kind.set.Rules {
				cw.Write(kind.name, strconv.Itoa(i+1), strings.Join(r.Extensions, " "), strings.Join(r.ContentTypes, " "), r.Action.String())
			}
			cw.Write(kind.name, "default", "*", "*", kind.set.Default.String())
		}
	}
	return cw.Flush()
}
