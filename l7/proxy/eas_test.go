package proxy

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// TestEASDecisions drives one EAS request per policy outcome through the
// proxy and checks what the client saw, what the mail server saw, and the
// transaction log.
func TestEASDecisions(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	managed := func(id, user string) device.Record {
		return device.Record{DeviceID: id, User: user, Managed: true, LastCheckIn: now.Add(-time.Hour), EASProfile: true,
			Compromised: device.No, Encrypted: device.Yes, Platform: "Apple", OSVersion: "17.4"}
	}
	strict := device.Config{ManagedOnly: true, InactivityDays: 30, BlockCompromised: true, BlockUnencrypted: true, RequireEASProfile: true,
		BlockedUsers: []string{"mallory"}, BlockedMailClients: []string{"EvilMail"}, BlockedDeviceTypes: []string{"Kindle"}}
	with := func(f func(*device.Config)) device.Config { c := strict; f(&c); return c }

	tests := []struct {
		name    string
		policy  *device.Config // nil: no policy loaded
		opts    []envOption
		records []device.Record
		req     easReq
		// want
		status      int
		easStatus   string // "" when the body is not WBXML
		forwarded   bool
		action      string
		reason      device.Reason
		testMode    bool
		retryAfter  string
		wantRootTag string
	}{
		{name: "managed device allowed", policy: &strict, records: []device.Record{managed("DEV1", "jane")},
			req:    easReq{cmd: "FolderSync", user: "jane", deviceID: "DEV1", devType: "iPhone"},
			status: 200, forwarded: true, action: "allow", reason: device.ReasonDefaultAllow},
		{name: "whitelist beats managed-only", policy: &strict,
			records: []device.Record{{DeviceID: "DEV2", User: "jane", Override: device.OverrideWhitelist}},
			req:     easReq{cmd: "Sync", user: "jane", deviceID: "DEV2", devType: "Android"},
			status:  200, forwarded: true, action: "allow", reason: device.ReasonOverrideWhitelist},
		{name: "blacklist", policy: &strict,
			records: []device.Record{func() device.Record { r := managed("DEV3", "jane"); r.Override = device.OverrideBlacklist; return r }()},
			req:     easReq{cmd: "FolderSync", user: "jane", deviceID: "DEV3", devType: "iPhone"},
			status:  200, easStatus: "129", action: "block", reason: device.ReasonOverrideBlacklist, wantRootTag: "FolderHierarchy:FolderSync"},
		{name: "blacklist holds in test mode", policy: ptr(with(func(c *device.Config) { c.TestMode = true })),
			records: []device.Record{func() device.Record { r := managed("DEV3", "jane"); r.Override = device.OverrideBlacklist; return r }()},
			req:     easReq{cmd: "Sync", user: "jane", deviceID: "DEV3", devType: "iPhone"},
			status:  200, easStatus: "129", action: "block", reason: device.ReasonOverrideBlacklist, wantRootTag: "AirSync:Sync"},
		{name: "quarantine override", policy: &strict,
			records: []device.Record{func() device.Record { r := managed("DEV4", "jane"); r.Override = device.OverrideQuarantine; return r }()},
			req:     easReq{cmd: "Ping", user: "jane", deviceID: "DEV4", devType: "iPhone"},
			status:  200, easStatus: "130", action: "quarantine", reason: device.ReasonOverrideQuarantine, wantRootTag: "Ping:Ping"},
		{name: "default quarantine", policy: &device.Config{DefaultAccess: device.Quarantine},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "NEW1", devType: "iPhone"},
			status: 200, easStatus: "130", action: "quarantine", reason: device.ReasonDefaultQuarantine, wantRootTag: "AirSync:Sync"},
		{name: "unmanaged under managed-only", policy: &strict,
			req:    easReq{cmd: "FolderSync", user: "jane", deviceID: "NEW2", devType: "iPhone"},
			status: 200, easStatus: "145", action: "block", reason: device.ReasonUnmanaged, wantRootTag: "FolderHierarchy:FolderSync"},
		{name: "unmanaged provisioning stops at 129", policy: &strict,
			req:    easReq{cmd: "Provision", user: "jane", deviceID: "NEW2", devType: "iPhone"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonUnmanaged, wantRootTag: "Provision:Provision"},
		{name: "user blocked", policy: &strict, records: []device.Record{managed("DEV5", "mallory")},
			req:    easReq{cmd: "Sync", user: "mallory", deviceID: "DEV5", devType: "iPhone"},
			status: 200, easStatus: "126", action: "block", reason: device.ReasonUserBlocked, wantRootTag: "AirSync:Sync"},
		{name: "user not allowed", policy: &device.Config{AllowedUsers: []string{"jane"}},
			req:    easReq{cmd: "Settings", user: "bob", deviceID: "DEV6", devType: "iPhone"},
			status: 200, easStatus: "126", action: "block", reason: device.ReasonUserNotAllowed, wantRootTag: "Settings:Settings"},
		{name: "mail client blocked", policy: &strict, records: []device.Record{managed("DEV7", "jane")},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV7", devType: "iPhone", ua: "EvilMail/1.0"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonMailClientBlocked, wantRootTag: "AirSync:Sync"},
		{name: "device type blocked", policy: &strict, records: []device.Record{managed("DEV8", "jane")},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV8", devType: "Kindle"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonDeviceTypeBlocked, wantRootTag: "AirSync:Sync"},
		{name: "compromised", policy: &strict,
			records: []device.Record{func() device.Record { r := managed("DEV9", "jane"); r.Compromised = device.Yes; return r }()},
			req:     easReq{cmd: "Sync", user: "jane", deviceID: "DEV9", devType: "iPhone"},
			status:  200, easStatus: "129", action: "block", reason: device.ReasonCompromised, wantRootTag: "AirSync:Sync"},
		{name: "inactive", policy: &strict,
			records: []device.Record{func() device.Record {
				r := managed("DEV10", "jane")
				r.LastCheckIn = now.Add(-31 * 24 * time.Hour)
				return r
			}()},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV10", devType: "iPhone"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonInactive, wantRootTag: "AirSync:Sync"},
		{name: "no managed EAS profile", policy: &strict,
			records: []device.Record{func() device.Record { r := managed("DEV11", "jane"); r.EASProfile = false; return r }()},
			req:     easReq{cmd: "FolderSync", user: "jane", deviceID: "DEV11", devType: "iPhone"},
			status:  200, easStatus: "142", action: "block", reason: device.ReasonNoEASProfile, wantRootTag: "FolderHierarchy:FolderSync"},
		{name: "record of another user", policy: &strict, records: []device.Record{managed("DEV12", "jane")},
			req:    easReq{cmd: "Sync", user: "eve", deviceID: "DEV12", devType: "iPhone"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonUserMismatch, wantRootTag: "AirSync:Sync"},
		{name: "ABQ block rule", policy: &device.Config{Rules: []device.ABQRule{{Characteristic: device.DeviceType, Query: "BlackBerry", Access: device.Block}}},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV13", devType: "BlackBerry"},
			status: 200, easStatus: "129", action: "block", reason: device.ReasonABQBlock, wantRootTag: "AirSync:Sync"},
		{name: "test mode lets a block through", policy: ptr(with(func(c *device.Config) { c.TestMode = true })),
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "NEW3", devType: "iPhone"},
			status: 200, forwarded: true, action: "allow", reason: device.ReasonUnmanaged, testMode: true},
		{name: "no policy fails closed", policy: nil,
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV14", devType: "iPhone"},
			status: 503, action: "block", reason: device.ReasonNoPolicyFailClosed, retryAfter: "120"},
		{name: "no policy, mail allowed to flow", policy: nil,
			opts:   []envOption{func(_ *Config, s *device.StoreOptions) { s.AllowMailIfNoPolicy = true }},
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "DEV15", devType: "iPhone"},
			status: 200, forwarded: true, action: "allow", reason: device.ReasonNoPolicyAllow},
		{name: "protocol 12.1 predates status codes", policy: &strict,
			req:    easReq{cmd: "Sync", user: "jane", deviceID: "NEW4", devType: "iPhone", version: "12.1"},
			status: 403, action: "block", reason: device.ReasonUnmanaged},
		{name: "GetAttachment has no WBXML response", policy: &strict,
			req:    easReq{cmd: "GetAttachment", user: "jane", deviceID: "NEW5", devType: "iPhone"},
			status: 403, action: "block", reason: device.ReasonUnmanaged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pol *device.Policy
			if tc.policy != nil {
				pol = mustPolicy(t, *tc.policy)
			}
			e := newEnv(t, pol, tc.opts...)
			e.clock.Set(now)
			mustUpsert(t, e.store, tc.records...)
			got := e.eas(t, tc.req)

			if got.Status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", got.Status, tc.status, got.Body)
			}
			reqs := e.mail.requests()
			if tc.forwarded != (len(reqs) == 1) {
				t.Fatalf("mail server got %d requests, want forwarded=%v", len(reqs), tc.forwarded)
			}
			if tc.forwarded {
				if reqs[0].RawQuery != tc.req.query_() {
					t.Errorf("mail server saw query %q, want %q", reqs[0].RawQuery, tc.req.query_())
				}
				if got.Header.Get("Content-Type") != WBXMLContentType {
					t.Errorf("Content-Type %q", got.Header.Get("Content-Type"))
				}
			}
			if tc.easStatus != "" {
				if ct := got.Header.Get("Content-Type"); ct != WBXMLContentType {
					t.Errorf("block Content-Type %q, want %q", ct, WBXMLContentType)
				}
				st, path := decodeStatus(t, got.Body)
				if st != tc.easStatus {
					t.Errorf("EAS Status %s, want %s", st, tc.easStatus)
				}
				if path[0] != tc.wantRootTag {
					t.Errorf("root %s, want %s", path[0], tc.wantRootTag)
				}
			}
			if tc.retryAfter != "" && got.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got.Header.Get("Retry-After"), tc.retryAfter)
			}
			rec := e.logs.waitFor(t, MsgTransaction, nil)
			want := map[string]any{
				"user": tc.req.user, "device_id": tc.req.deviceID, "device_type": tc.req.devType, "cmd": tc.req.cmd,
				"status": int64(tc.status), "decision": tc.action, "reason": string(tc.reason), "src": "127.0.0.1", "route": "eas",
			}
			for k, v := range want {
				if rec.Attrs[k] != v {
					t.Errorf("log %s = %v (%T), want %v", k, rec.Attrs[k], rec.Attrs[k], v)
				}
			}
			if tc.testMode && (rec.Attrs["test_mode"] != true || rec.Attrs["intended"] != "block") {
				t.Errorf("log lacks test mode: %v", rec.Attrs)
			}
			blocked := len(e.logs.all(MsgBlocked)) > 0
			if blocked != (!tc.forwarded || tc.testMode) {
				t.Errorf("blocked log record present=%v, forwarded=%v, test mode=%v", blocked, tc.forwarded, tc.testMode)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestBlockResponses checks the block response of every command: the
// code page and element of each command's response, and the status.
func TestBlockResponses(t *testing.T) {
	want := map[eas.Command][]string{
		eas.Sync:              {"AirSync:Sync", "AirSync:Status"},
		eas.SendMail:          {"ComposeMail:SendMail", "ComposeMail:Status"},
		eas.SmartForward:      {"ComposeMail:SmartForward", "ComposeMail:Status"},
		eas.SmartReply:        {"ComposeMail:SmartReply", "ComposeMail:Status"},
		eas.FolderSync:        {"FolderHierarchy:FolderSync", "FolderHierarchy:Status"},
		eas.FolderCreate:      {"FolderHierarchy:FolderCreate", "FolderHierarchy:Status"},
		eas.FolderDelete:      {"FolderHierarchy:FolderDelete", "FolderHierarchy:Status"},
		eas.FolderUpdate:      {"FolderHierarchy:FolderUpdate", "FolderHierarchy:Status"},
		eas.MoveItems:         {"Move:MoveItems", "Move:Response", "Move:Status"},
		eas.GetItemEstimate:   {"GetItemEstimate:GetItemEstimate", "GetItemEstimate:Response", "GetItemEstimate:Status"},
		eas.MeetingResponse:   {"MeetingResponse:MeetingResponse", "MeetingResponse:Result", "MeetingResponse:Status"},
		eas.Search:            {"Search:Search", "Search:Status"},
		eas.Settings:          {"Settings:Settings", "Settings:Status"},
		eas.Ping:              {"Ping:Ping", "Ping:Status"},
		eas.ItemOperations:    {"ItemOperations:ItemOperations", "ItemOperations:Status"},
		eas.Provision:         {"Provision:Provision", "Provision:Status"},
		eas.ResolveRecipients: {"ResolveRecipients:ResolveRecipients", "ResolveRecipients:Status"},
		eas.ValidateCert:      {"ValidateCert:ValidateCert", "ValidateCert:Status"},
		eas.Find:              {"Find:Find", "Find:Status"},
	}
	e := newEnv(t, mustPolicy(t, device.Config{}))
	mustUpsert(t, e.store, device.Record{DeviceID: "BLOCKED", User: "jane", Override: device.OverrideBlacklist})
	for _, cmd := range eas.Commands() {
		t.Run(cmd.String(), func(t *testing.T) {
			got := e.eas(t, easReq{cmd: cmd.String(), user: "jane", deviceID: "BLOCKED", devType: "iPhone"})
			path, hasWBXML := want[cmd]
			if !hasWBXML {
				if got.Status != http.StatusForbidden {
					t.Fatalf("status %d, want 403", got.Status)
				}
				return
			}
			if got.Status != http.StatusOK {
				t.Fatalf("status %d, want 200", got.Status)
			}
			st, gotPath := decodeStatus(t, got.Body)
			if diff := cmp.Diff(path, gotPath); diff != "" {
				t.Errorf("element path (-want +got):\n%s", diff)
			}
			if st != "129" {
				t.Errorf("Status %q, want 129", st)
			}
			root, _ := wbxml.Decode(got.Body)
			if ns, _, _ := strings.Cut(path[0], ":"); wbxml.PageName(root.Page) != ns {
				t.Errorf("code page %d (%s), want %s", root.Page, wbxml.PageName(root.Page), ns)
			}
			if got.Header.Get("Content-Length") != strconv.Itoa(len(got.Body)) {
				t.Errorf("Content-Length %q for %d bytes", got.Header.Get("Content-Length"), len(got.Body))
			}
		})
	}
	if n := len(e.mail.requests()); n != 0 {
		t.Errorf("mail server got %d requests for blocked commands", n)
	}
}

// TestBlockCodes checks the reason → status mapping for every reason, the
// Provision rule and the statuses outside WBXML.
func TestBlockCodes(t *testing.T) {
	for _, r := range device.Reasons() {
		d := device.Decision{Action: device.Block, Reason: r}
		want := StatusDeviceBlocked
		switch r {
		case device.ReasonUserBlocked, device.ReasonUserNotAllowed:
			want = StatusUserDisabledForSync
		case device.ReasonUnmanaged:
			want = StatusExternallyManaged
		case device.ReasonNoEASProfile:
			want = StatusDeviceNotProvisioned
		}
		if got := easStatus(d); got != want {
			t.Errorf("%s: %d, want %d", r, got, want)
		}
		d.Action = device.Quarantine
		if got := easStatus(d); got != StatusAccessDenied {
			t.Errorf("%s quarantined: %d, want 130", r, got)
		}
		b := easBlock(eas.Provision, eas.V141, device.Decision{Action: device.Block, Reason: r}, time.Minute)
		if b.easStatus == StatusDeviceNotProvisioned || b.easStatus == StatusExternallyManaged {
			t.Errorf("%s: Provision answered %d, which asks the client to provision again", r, b.easStatus)
		}
	}
	if b := easBlock(eas.Sync, eas.Version{}, device.Decision{Action: device.Block, Reason: device.ReasonNoPolicyFailClosed}, 90*time.Second); b.status != 503 || b.retryAfter != 90*time.Second {
		t.Errorf("fail closed: %+v", b)
	}
	if b := easBlock(eas.Sync, eas.V121, device.Decision{Action: device.Block, Reason: device.ReasonOverrideBlacklist}, 0); b.status != 403 {
		t.Errorf("12.1: %+v", b)
	}
	if b := easBlock(eas.GetHierarchy, eas.V141, device.Decision{Action: device.Block, Reason: device.ReasonOverrideBlacklist}, 0); b.status != 403 {
		t.Errorf("legacy command: %+v", b)
	}
}

// TestEASBase64Query sends the MS-ASHTTP spec vector (base64 query, user
// from Basic authentication) and checks decision and forwarding.
func TestEASBase64Query(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	mustUpsert(t, e.store, device.Record{DeviceID: "v140Device", User: "jane", Override: device.OverrideBlacklist})
	const vector = "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l"
	got := e.eas(t, easReq{query: vector, user: "jane", version: "14.0"})
	st, path := decodeStatus(t, got.Body)
	if got.Status != 200 || st != "129" || path[0] != "AirSync:Sync" {
		t.Fatalf("got %d %s %v, want 200 AirSync:Sync 129", got.Status, st, path)
	}
	e.store.Delete("v140Device")
	got = e.eas(t, easReq{query: vector, user: "jane", version: "14.0"})
	if got.Status != 200 {
		t.Fatalf("status %d after the blacklist was removed", got.Status)
	}
	reqs := e.mail.requests()
	if len(reqs) != 1 || reqs[0].RawQuery != vector {
		t.Fatalf("mail server saw %+v, want the query %q unchanged", reqs, vector)
	}
	rec := e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["status"] == int64(200) })
	if rec.Attrs["device_id"] != "v140Device" || rec.Attrs["device_type"] != "SmartPhone" || rec.Attrs["user"] != "jane" || rec.Attrs["cmd"] != "Sync" {
		t.Errorf("log %v", rec.Attrs)
	}
}

// TestEASMalformed: a request the EAS parser refuses gets 400 and never
// reaches the mail server.
func TestEASMalformed(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	tests := []struct {
		name  string
		query string
		mod   func(*http.Request)
	}{
		{name: "no query", query: ""},
		{name: "no device id", query: "Cmd=Sync&User=jane&DeviceType=iPhone"},
		{name: "unknown command", query: "Cmd=Explode&User=jane&DeviceId=D1&DeviceType=iPhone"},
		{name: "duplicate device id", query: "Cmd=Sync&User=jane&DeviceId=D1&deviceid=D2&DeviceType=iPhone"},
		{name: "bad base64", query: "!!!notbase64"},
		{name: "truncated base64", query: "jAAJBAp2MTQwRGV2"},
		{name: "semicolon smuggling", query: "Cmd=Sync&User=jane;DeviceId=D2&DeviceId=D1&DeviceType=iPhone"},
		{name: "bad basic auth", query: "Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone",
			mod: func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }},
		{name: "two authorization headers", query: "Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone",
			mod: func(r *http.Request) { r.Header.Add("Authorization", "Basic amFuZTp4") }},
		{name: "bad policy key", query: "Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone",
			mod: func(r *http.Request) { r.Header.Set(eas.HeaderPolicyKey, "-1") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := e.easRequest(t, easReq{query: "x", user: "jane"})
			req.URL.RawQuery = tc.query
			if tc.mod != nil {
				tc.mod(req)
			}
			got := do(t, req)
			if got.Status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", got.Status)
			}
		})
	}
	if n := len(e.mail.requests()); n != 0 {
		t.Errorf("mail server got %d requests", n)
	}
}

// TestEASOptionsAndMethods: OPTIONS passes without a decision, even while
// no policy is loaded; other methods than POST are refused.
func TestEASOptionsAndMethods(t *testing.T) {
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, e.front.URL+pathEAS, nil)
	got := do(t, req)
	if got.Status != 200 || got.Header.Get("MS-ASProtocolVersions") == "" {
		t.Fatalf("OPTIONS: %d %v", got.Status, got.Header)
	}
	req, _ = http.NewRequest(http.MethodGet, e.front.URL+pathEAS+"?Cmd=Sync&User=jane&DeviceId=D1&DeviceType=iPhone", nil)
	if got := do(t, req); got.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", got.Status)
	}
	if n := len(e.mail.requests()); n != 1 {
		t.Errorf("mail server got %d requests, want 1 (the OPTIONS)", n)
	}
}

// TestDiscovery: a device without a record is recorded with what its
// request said; one with a record is not.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{ManagedOnly: true}))
	mustUpsert(t, e.store, device.Record{DeviceID: "KNOWN", User: "jane", Managed: true})
	e.eas(t, easReq{cmd: "FolderSync", user: "jane", deviceID: "UNKNOWN1", devType: "Android", ua: "Outlook-Android/2.0"})
	e.clock.Set(e.clock.Now().Add(time.Minute))
	e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "UNKNOWN1", devType: "Android", ua: "Outlook-Android/2.0"})
	e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "KNOWN", devType: "iPhone"})

	d, ok := e.store.LookupDiscovered("unknown1")
	if !ok {
		t.Fatal("UNKNOWN1 not discovered")
	}
	want := device.Discovered{DeviceID: "UNKNOWN1", User: "jane", DeviceType: "Android", UserAgent: "Outlook-Android/2.0",
		LastCommand: eas.Sync, ProtocolVersion: eas.V141, SourceIP: netip.MustParseAddr("127.0.0.1"),
		FirstSeen: e.clock.Now().Add(-time.Minute), LastSeen: e.clock.Now(), Requests: 2}
	if diff := cmp.Diff(want, d, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("discovered (-want +got):\n%s", diff)
	}
	if _, ok := e.store.LookupDiscovered("KNOWN"); ok {
		t.Error("a device with a record was discovered")
	}
}

// TestPolicyReloadIsLive: the policy function is asked per request.
func TestPolicyReloadIsLive(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	r := easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}
	if got := e.eas(t, r); got.Status != 200 || len(e.mail.requests()) != 1 {
		t.Fatalf("before: %d", got.Status)
	}
	e.store.SetPolicy(mustPolicy(t, device.Config{BlockedDeviceTypes: []string{"iphone"}}))
	got := e.eas(t, r)
	if st, _ := decodeStatus(t, got.Body); st != "129" {
		t.Fatalf("after reload: status %s, want 129", st)
	}
	e.store.SetPolicy(nil)
	if got := e.eas(t, r); got.Status != 503 {
		t.Fatalf("after unload: %d, want 503", got.Status)
	}
}
