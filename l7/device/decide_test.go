package device

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/eas"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func mustPolicy(tb testing.TB, cfg Config) *Policy {
	tb.Helper()
	p, err := NewPolicy(cfg)
	if err != nil {
		tb.Fatalf("NewPolicy: %v", err)
	}
	return p
}

// janeID is a request from jane's iPhone with the native mail client.
func janeID() Identity {
	return Identity{
		User:            `CONTOSO\jane`,
		DeviceID:        "ApplF17ABC123",
		DeviceType:      "iPhone",
		UserAgent:       "Apple-iPhone15C2/2104.1",
		Command:         eas.Sync,
		ProtocolVersion: eas.V161,
		SourceIP:        netip.MustParseAddr("192.0.2.10"),
	}
}

// janeRec is the record of jane's iPhone: managed and compliant.
func janeRec() *Record {
	return &Record{
		DeviceID:    "applf17abc123",
		User:        "jane@contoso.com",
		Managed:     true,
		Compromised: No,
		Encrypted:   Yes,
		Platform:    "Apple",
		Model:       "iPhone 15 Pro",
		OSVersion:   "17.4.1",
		LastCheckIn: testNow.Add(-time.Hour),
		EASProfile:  true,
	}
}

type decideCase struct {
	name string
	// policy: cfg compiled unless noPolicy/policy set.
	cfg      Config
	policy   *Policy
	noPolicy bool // pass a nil *Policy
	id       func(*Identity)
	rec      func(*Record)
	noRecord bool
	want     Decision
}

func allow(r Reason, rule string) Decision { return decided(Allow, r, rule) }
func block(r Reason, rule string) Decision { return decided(Block, r, rule) }
func quarantine(r Reason, rule string) Decision {
	return decided(Quarantine, r, rule)
}
func tested(intended Action, r Reason, rule string) Decision {
	return Decision{Action: Allow, Intended: intended, Reason: r, Rule: rule, TestMode: true}
}

var defaultAllow = allow(ReasonDefaultAllow, "DefaultAccess=allow")

func decideCases() []decideCase {
	return []decideCase{
		// 1. No policy loaded.
		{name: "no policy fails closed", noPolicy: true, want: block(ReasonNoPolicyFailClosed, "")},
		{name: "NoPolicy(false) fails closed", policy: NoPolicy(false), want: block(ReasonNoPolicyFailClosed, "")},
		{name: "NoPolicy(true) lets mail flow", policy: NoPolicy(true), want: allow(ReasonNoPolicyAllow, "")},
		{name: "zero Policy value fails closed", policy: &Policy{}, want: block(ReasonNoPolicyFailClosed, "")},
		{name: "no policy ignores whitelist", noPolicy: true, rec: func(r *Record) { r.Override = OverrideWhitelist }, want: block(ReasonNoPolicyFailClosed, "")},

		// 2. Negative overrides.
		{name: "blacklist", rec: func(r *Record) { r.Override = OverrideBlacklist }, want: block(ReasonOverrideBlacklist, "Override=blacklist")},
		{name: "blacklist holds for another user", id: func(i *Identity) { i.User = "mallory" }, rec: func(r *Record) { r.Override = OverrideBlacklist }, want: block(ReasonOverrideBlacklist, "Override=blacklist")},
		{name: "blacklist survives test mode", cfg: Config{TestMode: true}, rec: func(r *Record) { r.Override = OverrideBlacklist }, want: block(ReasonOverrideBlacklist, "Override=blacklist")},
		{name: "quarantine override", rec: func(r *Record) { r.Override = OverrideQuarantine }, want: quarantine(ReasonOverrideQuarantine, "Override=quarantine")},
		{name: "quarantine override survives test mode", cfg: Config{TestMode: true}, rec: func(r *Record) { r.Override = OverrideQuarantine }, want: quarantine(ReasonOverrideQuarantine, "Override=quarantine")},
		{name: "blacklist beats an ABQ allow rule", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceType, Query: "iPhone", Access: Allow}}}, rec: func(r *Record) { r.Override = OverrideBlacklist }, want: block(ReasonOverrideBlacklist, "Override=blacklist")},

		// 3. Record binding.
		{name: "record of another user", id: func(i *Identity) { i.User = `CONTOSO\bob` }, want: block(ReasonUserMismatch, "Record.User")},
		{name: "record user in test mode", cfg: Config{TestMode: true}, id: func(i *Identity) { i.User = "bob@contoso.com" }, want: tested(Block, ReasonUserMismatch, "Record.User")},
		{name: "request without user against a record with one", id: func(i *Identity) { i.User = "" }, want: block(ReasonUserMismatch, "Record.User")},
		{name: "NetBIOS and UPN forms of one account match", want: defaultAllow},
		{name: "bare account matches", id: func(i *Identity) { i.User = "JANE" }, want: defaultAllow},
		{name: "same form, other domain does not match", id: func(i *Identity) { i.User = "jane@fabrikam.com" }, want: block(ReasonUserMismatch, "Record.User")},
		{name: "record without user applies to anyone", id: func(i *Identity) { i.User = "bob" }, rec: func(r *Record) { r.User = "" }, want: defaultAllow},
		{name: "whitelist is not lent to another user", id: func(i *Identity) { i.User = "bob" }, rec: func(r *Record) { r.Override = OverrideWhitelist }, want: block(ReasonUserMismatch, "Record.User")},

		// 4. Whitelist.
		{
			name: "whitelist beats every policy",
			cfg: Config{
				ManagedOnly: true, BlockedUsers: []string{"jane"}, BlockedDeviceTypes: []string{"iPhone"},
				BlockedMailClients: []string{"Apple-iPhone*"}, BlockCompromised: true, InactivityDays: 1,
				Rules: []ABQRule{{Characteristic: DeviceType, Query: "*", Access: Block}}, DefaultAccess: Block,
			},
			rec:  func(r *Record) { r.Override = OverrideWhitelist; r.Managed = false; r.Compromised = Yes },
			want: allow(ReasonOverrideWhitelist, "Override=whitelist"),
		},

		// 5. General access.
		{name: "managed only: no record", cfg: Config{ManagedOnly: true}, noRecord: true, want: block(ReasonUnmanaged, "ManagedOnly")},
		{name: "managed only: unmanaged record", cfg: Config{ManagedOnly: true}, rec: func(r *Record) { r.Managed = false }, want: block(ReasonUnmanaged, "ManagedOnly")},
		{name: "managed only: managed record", cfg: Config{ManagedOnly: true}, want: defaultAllow},
		{name: "unknown device without ManagedOnly", noRecord: true, want: defaultAllow},
		{name: "managed only comes before the mail client list", cfg: Config{ManagedOnly: true, BlockedMailClients: []string{"Apple-iPhone15C2"}}, noRecord: true, want: block(ReasonUnmanaged, "ManagedOnly")},

		{name: "mail client blocked by product name", cfg: Config{BlockedMailClients: []string{"apple-iphone15c2"}}, want: block(ReasonMailClientBlocked, "BlockedMailClients=apple-iphone15c2")},
		{name: "mail client blocked by whole User-Agent", cfg: Config{BlockedMailClients: []string{" Apple-iPhone15C2/2104.1 "}}, want: block(ReasonMailClientBlocked, "BlockedMailClients=Apple-iPhone15C2/2104.1")},
		{name: "mail client blocked by pattern", cfg: Config{BlockedMailClients: []string{"Apple-iPhone*"}}, want: block(ReasonMailClientBlocked, "BlockedMailClients=Apple-iPhone*")},
		{name: "other build of a blocked client passes", cfg: Config{BlockedMailClients: []string{"Apple-iPhone15C2/2104.2"}}, want: defaultAllow},
		{name: "mail client not on the allow list", cfg: Config{AllowedMailClients: []string{"Outlook-iOS-Android"}}, want: block(ReasonMailClientNotAllowed, "AllowedMailClients")},
		{name: "mail client on the allow list", cfg: Config{AllowedMailClients: []string{"Outlook-iOS-Android", "Apple-iPhone15C2"}}, want: defaultAllow},
		{name: "mail client allowed by pattern", cfg: Config{AllowedMailClients: []string{"apple-iphone??c2/*"}}, want: defaultAllow},
		{name: "mail client block list beats allow list", cfg: Config{AllowedMailClients: []string{"*"}, BlockedMailClients: []string{"Apple-iPhone15C2"}}, want: block(ReasonMailClientBlocked, "BlockedMailClients=Apple-iPhone15C2")},
		{name: "missing User-Agent is not on the allow list", cfg: Config{AllowedMailClients: []string{"Apple-*"}}, id: func(i *Identity) { i.UserAgent = "" }, want: block(ReasonMailClientNotAllowed, "AllowedMailClients")},

		{name: "user blocked by bare account", cfg: Config{BlockedUsers: []string{"Jane"}}, want: block(ReasonUserBlocked, "BlockedUsers=Jane")},
		{name: "user blocked by UPN, request in NetBIOS form", cfg: Config{BlockedUsers: []string{"jane@contoso.com"}}, want: block(ReasonUserBlocked, "BlockedUsers=jane@contoso.com")},
		{name: "user blocked by UPN, request bare", cfg: Config{BlockedUsers: []string{"jane@contoso.com"}}, id: func(i *Identity) { i.User = "jane" }, rec: func(r *Record) { r.User = "" }, want: block(ReasonUserBlocked, "BlockedUsers=jane@contoso.com")},
		{name: "user blocked by pattern", cfg: Config{BlockedUsers: []string{"*@contoso.com"}}, id: func(i *Identity) { i.User = "JANE@contoso.com" }, want: block(ReasonUserBlocked, "BlockedUsers=*@contoso.com")},
		{name: "other domain in the same form is another user", cfg: Config{BlockedUsers: []string{`FABRIKAM\jane`}}, want: defaultAllow},
		{name: "user not on the allow list", cfg: Config{AllowedUsers: []string{"bob", "carol@contoso.com"}}, want: block(ReasonUserNotAllowed, "AllowedUsers")},
		{name: "user on the allow list", cfg: Config{AllowedUsers: []string{"bob", `contoso\JANE`}}, want: defaultAllow},
		{name: "user block list beats allow list", cfg: Config{AllowedUsers: []string{"jane"}, BlockedUsers: []string{`CONTOSO\jane`}}, want: block(ReasonUserBlocked, `BlockedUsers=CONTOSO\jane`)},

		{name: "device type blocked", cfg: Config{BlockedDeviceTypes: []string{"IPHONE"}}, want: block(ReasonDeviceTypeBlocked, "BlockedDeviceTypes=IPHONE")},
		{name: "device type not on the allow list", cfg: Config{AllowedDeviceTypes: []string{"Android"}}, want: block(ReasonDeviceTypeNotAllowed, "AllowedDeviceTypes")},
		{name: "device type allowed by pattern", cfg: Config{AllowedDeviceTypes: []string{"i*"}}, want: defaultAllow},
		{name: "device type block list beats allow list", cfg: Config{AllowedDeviceTypes: []string{"iPhone"}, BlockedDeviceTypes: []string{"i?hone"}}, want: block(ReasonDeviceTypeBlocked, "BlockedDeviceTypes=i?hone")},
		{name: "general access applies to unmanaged devices", cfg: Config{BlockedDeviceTypes: []string{"iPhone"}}, noRecord: true, want: block(ReasonDeviceTypeBlocked, "BlockedDeviceTypes=iPhone")},

		// 6. Managed-device policies.
		{name: "inactive", cfg: Config{InactivityDays: 30}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(-31 * day) }, want: block(ReasonInactive, "InactivityDays=30")},
		{name: "inactivity: exactly N days is active", cfg: Config{InactivityDays: 30}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(-30 * day) }, want: defaultAllow},
		{name: "inactivity: N days and 1ns is inactive", cfg: Config{InactivityDays: 30}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(-30*day - 1) }, want: block(ReasonInactive, "InactivityDays=30")},
		{name: "inactivity: 1 day boundary", cfg: Config{InactivityDays: 1}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(-day) }, want: defaultAllow},
		{name: "inactivity: 32767 days", cfg: Config{InactivityDays: MaxInactivityDays}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(-MaxInactivityDays*day - time.Second) }, want: block(ReasonInactive, "InactivityDays=32767")},
		{name: "inactivity: never checked in", cfg: Config{InactivityDays: 30}, rec: func(r *Record) { r.LastCheckIn = time.Time{} }, want: block(ReasonInactive, "InactivityDays=30")},
		{name: "inactivity: check-in in the future", cfg: Config{InactivityDays: 1}, rec: func(r *Record) { r.LastCheckIn = testNow.Add(time.Hour) }, want: defaultAllow},
		{name: "inactivity off", rec: func(r *Record) { r.LastCheckIn = time.Time{} }, want: defaultAllow},
		{name: "inactivity does not apply to unmanaged devices", cfg: Config{InactivityDays: 1}, rec: func(r *Record) { r.Managed = false; r.LastCheckIn = time.Time{} }, want: defaultAllow},

		{name: "compromised", cfg: Config{BlockCompromised: true}, rec: func(r *Record) { r.Compromised = Yes }, want: block(ReasonCompromised, "BlockCompromised")},
		{name: "compromised unreported passes", cfg: Config{BlockCompromised: true}, rec: func(r *Record) { r.Compromised = Unreported }, want: defaultAllow},
		{name: "not compromised passes", cfg: Config{BlockCompromised: true}, want: defaultAllow},
		{name: "compromised, policy off", rec: func(r *Record) { r.Compromised = Yes }, want: defaultAllow},
		{name: "compromised, unmanaged", cfg: Config{BlockCompromised: true}, rec: func(r *Record) { r.Compromised = Yes; r.Managed = false }, want: defaultAllow},

		{name: "not encrypted", cfg: Config{BlockUnencrypted: true}, rec: func(r *Record) { r.Encrypted = No }, want: block(ReasonNotEncrypted, "BlockUnencrypted")},
		{name: "encryption unreported passes", cfg: Config{BlockUnencrypted: true}, rec: func(r *Record) { r.Encrypted = Unreported }, want: defaultAllow},
		{name: "encrypted passes", cfg: Config{BlockUnencrypted: true}, want: defaultAllow},

		{name: "order: inactivity before compromised", cfg: Config{InactivityDays: 1, BlockCompromised: true}, rec: func(r *Record) { r.Compromised = Yes; r.LastCheckIn = time.Time{} }, want: block(ReasonInactive, "InactivityDays=1")},
		{name: "order: compromised before encryption", cfg: Config{BlockCompromised: true, BlockUnencrypted: true}, rec: func(r *Record) { r.Compromised = Yes; r.Encrypted = No }, want: block(ReasonCompromised, "BlockCompromised")},

		{name: "model not allowed", cfg: Config{AllowedModels: []ModelRule{{"Apple", "iPhone 14*"}, {"Android", "*"}}}, want: block(ReasonModelNotAllowed, "AllowedModels")},
		{name: "model allowed", cfg: Config{AllowedModels: []ModelRule{{"apple", "IPHONE 15 PRO"}}}, want: defaultAllow},
		{name: "model allowed by pattern", cfg: Config{AllowedModels: []ModelRule{{"Apple", "iPhone 1[5]*"}, {"Apple", "iPhone 15*"}}}, want: defaultAllow},
		{name: "model on another platform", cfg: Config{AllowedModels: []ModelRule{{"Android", "iPhone 15 Pro"}}}, want: block(ReasonModelNotAllowed, "AllowedModels")},
		{name: "model on any platform", cfg: Config{AllowedModels: []ModelRule{{"*", "iPhone 15 Pro"}}}, want: defaultAllow},
		{name: "model unknown", cfg: Config{AllowedModels: []ModelRule{{"Apple", "iPhone*"}}}, rec: func(r *Record) { r.Model = "" }, want: block(ReasonModelNotAllowed, "AllowedModels")},

		{name: "OS within bounds", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "16", Max: "17.5"}}}, want: defaultAllow},
		{name: "OS at the inclusive minimum", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "17.4.1"}}}, want: defaultAllow},
		{name: "OS below the minimum", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "17.4.2"}}}, want: block(ReasonOSNotAllowed, "AllowedOS")},
		{name: "OS at the inclusive maximum", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "17.4.1"}}}, want: defaultAllow},
		{name: "OS above the maximum", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "17.4.0"}}}, want: block(ReasonOSNotAllowed, "AllowedOS")},
		{name: "OS maximum 17 admits 17.4.1", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "17"}}}, want: defaultAllow},
		{name: "OS maximum 17.3 rejects 17.4.1", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "17.3"}}}, want: block(ReasonOSNotAllowed, "AllowedOS")},
		{name: "OS minimum 17.4 admits 17.4.0 written 17.4", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "17.4"}}}, rec: func(r *Record) { r.OSVersion = "17.4" }, want: defaultAllow},
		{name: "OS of four components", cfg: Config{AllowedOS: []OSRule{{Platform: "WinRT", Min: "10.0.19045"}}}, rec: func(r *Record) { r.Platform = "WinRT"; r.OSVersion = "10.0.19045.3803" }, want: defaultAllow},
		{name: "OS of four components too old", cfg: Config{AllowedOS: []OSRule{{Platform: "WinRT", Min: "10.0.19045"}}}, rec: func(r *Record) { r.Platform = "WinRT"; r.OSVersion = "10.0.19044.9999" }, want: block(ReasonOSNotAllowed, "AllowedOS")},
		{name: "OS platform not listed", cfg: Config{AllowedOS: []OSRule{{Platform: "Android", Min: "12"}}}, want: block(ReasonOSNotAllowed, "AllowedOS")},
		{name: "OS any of several ranges", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "15"}, {Platform: "apple", Min: "17.4"}}}, want: defaultAllow},
		{name: "OS platform pattern", cfg: Config{AllowedOS: []OSRule{{Platform: "App*", Min: "17"}}}, want: defaultAllow},
		{name: "OS version unparseable", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "16"}}}, rec: func(r *Record) { r.OSVersion = "seventeen" }, want: block(ReasonOSVersionUnknown, "AllowedOS")},
		{name: "OS version missing", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Max: "18"}}}, rec: func(r *Record) { r.OSVersion = "" }, want: block(ReasonOSVersionUnknown, "AllowedOS")},
		{name: "OS version with build suffix", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "17.4"}}}, rec: func(r *Record) { r.OSVersion = "17.4.1 (21E236)" }, want: defaultAllow},
		{name: "OS entry without bounds admits an unparseable version", cfg: Config{AllowedOS: []OSRule{{Platform: "Apple"}}}, rec: func(r *Record) { r.OSVersion = "beta" }, want: defaultAllow},
		{name: "OS policy does not apply to unmanaged devices", cfg: Config{AllowedOS: []OSRule{{Platform: "Android", Min: "12"}}}, rec: func(r *Record) { r.Managed = false }, want: defaultAllow},
		{name: "order: model before OS", cfg: Config{AllowedModels: []ModelRule{{"Android", "*"}}, AllowedOS: []OSRule{{Platform: "Android"}}}, want: block(ReasonModelNotAllowed, "AllowedModels")},

		{name: "EAS profile missing", cfg: Config{RequireEASProfile: true}, rec: func(r *Record) { r.EASProfile = false }, want: block(ReasonNoEASProfile, "RequireEASProfile")},
		{name: "EAS profile present", cfg: Config{RequireEASProfile: true}, want: defaultAllow},
		{name: "EAS profile, unmanaged", cfg: Config{RequireEASProfile: true}, rec: func(r *Record) { r.EASProfile = false; r.Managed = false }, want: defaultAllow},

		// 7. ABQ rules.
		{name: "ABQ block by DeviceType", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceType, Query: "iphone", Access: Block}}}, want: block(ReasonABQBlock, "DeviceType=iphone")},
		{name: "ABQ named rule", cfg: Config{Rules: []ABQRule{{Name: "no iPhones", Characteristic: DeviceType, Query: "iPhone", Access: Block}}}, want: block(ReasonABQBlock, "no iPhones")},
		{name: "ABQ quarantine by device-reported model", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceModel, Query: "iPhone", Access: Quarantine}}}, id: func(i *Identity) { i.DeviceModel = "iPhone" }, want: quarantine(ReasonABQQuarantine, "DeviceModel=iPhone")},
		{name: "ABQ model falls back to the record", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceModel, Query: "iPhone 15*", Access: Quarantine}}}, want: quarantine(ReasonABQQuarantine, "DeviceModel=iPhone 15*")},
		{name: "ABQ device-reported model wins over the record", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceModel, Query: "iPhone 15*", Access: Quarantine}}}, id: func(i *Identity) { i.DeviceModel = "iPhone" }, want: defaultAllow},
		{name: "ABQ DeviceOS as Exchange writes it", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceOS, Query: "iOS 17.4.1 21E236", Access: Block}}}, id: func(i *Identity) { i.DeviceOS = "iOS 17.4.1 21E236" }, want: block(ReasonABQBlock, "DeviceOS=iOS 17.4.1 21E236")},
		{name: "ABQ DeviceOS from the record", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceOS, Query: "Apple 17.*", Access: Block}}}, want: block(ReasonABQBlock, "DeviceOS=Apple 17.*")},
		{name: "ABQ DeviceOS of an unknown device is empty", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceOS, Query: "*", Access: Block}}}, noRecord: true, want: block(ReasonABQBlock, "DeviceOS=*")},
		{name: "ABQ UserAgent exact", cfg: Config{Rules: []ABQRule{{Characteristic: UserAgent, Query: "Apple-iPhone15C2/2104.1", Access: Allow}}, DefaultAccess: Block}, want: allow(ReasonABQAllow, "UserAgent=Apple-iPhone15C2/2104.1")},
		{name: "ABQ UserAgent needs the whole header", cfg: Config{Rules: []ABQRule{{Characteristic: UserAgent, Query: "Apple-iPhone15C2", Access: Allow}}, DefaultAccess: Block}, want: block(ReasonDefaultBlock, "DefaultAccess=block")},
		{
			name: "ABQ block beats quarantine and allow, whatever the order",
			cfg: Config{Rules: []ABQRule{
				{Characteristic: DeviceType, Query: "iPhone", Access: Allow},
				{Characteristic: DeviceModel, Query: "iPhone*", Access: Quarantine},
				{Characteristic: UserAgent, Query: "Apple-*", Access: Block},
			}},
			want: block(ReasonABQBlock, "UserAgent=Apple-*"),
		},
		{
			name: "ABQ quarantine beats allow",
			cfg: Config{Rules: []ABQRule{
				{Characteristic: DeviceType, Query: "iPhone", Access: Allow},
				{Characteristic: UserAgent, Query: "Apple-*", Access: Quarantine},
			}},
			want: quarantine(ReasonABQQuarantine, "UserAgent=Apple-*"),
		},
		{
			name: "ABQ within a level, DeviceType is reported first",
			cfg: Config{Rules: []ABQRule{
				{Characteristic: UserAgent, Query: "Apple-*", Access: Block},
				{Characteristic: DeviceType, Query: "iPhone", Access: Block},
			}},
			want: block(ReasonABQBlock, "DeviceType=iPhone"),
		},
		{name: "ABQ allow overrides a default block", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceType, Query: "iPhone", Access: Allow}}, DefaultAccess: Block}, want: allow(ReasonABQAllow, "DeviceType=iPhone")},
		{name: "ABQ allow does not override general access", cfg: Config{BlockedUsers: []string{"jane"}, Rules: []ABQRule{{Characteristic: DeviceType, Query: "iPhone", Access: Allow}}}, want: block(ReasonUserBlocked, "BlockedUsers=jane")},
		{name: "ABQ allow does not override managed policies", cfg: Config{BlockCompromised: true, Rules: []ABQRule{{Characteristic: DeviceType, Query: "iPhone", Access: Allow}}}, rec: func(r *Record) { r.Compromised = Yes }, want: block(ReasonCompromised, "BlockCompromised")},
		{name: "ABQ no rule matches", cfg: Config{Rules: []ABQRule{{Characteristic: DeviceType, Query: "Android", Access: Block}}}, want: defaultAllow},

		// 8. Default access level.
		{name: "default allow", want: defaultAllow},
		{name: "default block", cfg: Config{DefaultAccess: Block}, want: block(ReasonDefaultBlock, "DefaultAccess=block")},
		{name: "default quarantine", cfg: Config{DefaultAccess: Quarantine}, want: quarantine(ReasonDefaultQuarantine, "DefaultAccess=quarantine")},
		{name: "default quarantine of a new device", cfg: Config{DefaultAccess: Quarantine}, noRecord: true, want: quarantine(ReasonDefaultQuarantine, "DefaultAccess=quarantine")},

		// Test mode.
		{name: "test mode lets a general block through", cfg: Config{TestMode: true, ManagedOnly: true}, noRecord: true, want: tested(Block, ReasonUnmanaged, "ManagedOnly")},
		{name: "test mode lets a managed block through", cfg: Config{TestMode: true, BlockCompromised: true}, rec: func(r *Record) { r.Compromised = Yes }, want: tested(Block, ReasonCompromised, "BlockCompromised")},
		{name: "test mode lets a quarantine through", cfg: Config{TestMode: true, DefaultAccess: Quarantine}, want: tested(Quarantine, ReasonDefaultQuarantine, "DefaultAccess=quarantine")},
		{name: "test mode lets an ABQ block through", cfg: Config{TestMode: true, Rules: []ABQRule{{Characteristic: DeviceType, Query: "*", Access: Block}}}, want: tested(Block, ReasonABQBlock, "DeviceType=*")},
		{name: "test mode leaves an allow alone", cfg: Config{TestMode: true}, want: defaultAllow},
		{name: "test mode leaves a whitelist alone", cfg: Config{TestMode: true}, rec: func(r *Record) { r.Override = OverrideWhitelist }, want: allow(ReasonOverrideWhitelist, "Override=whitelist")},
	}
}

func (tc *decideCase) inputs(tb testing.TB) (Identity, *Record, *Policy) {
	tb.Helper()
	id := janeID()
	if tc.id != nil {
		tc.id(&id)
	}
	var rec *Record
	if !tc.noRecord {
		rec = janeRec()
		if tc.rec != nil {
			tc.rec(rec)
		}
	}
	p := tc.policy
	if p == nil && !tc.noPolicy {
		p = mustPolicy(tb, tc.cfg)
	}
	return id, rec, p
}

func TestDecide(t *testing.T) {
	for _, tc := range decideCases() {
		t.Run(tc.name, func(t *testing.T) {
			id, rec, p := tc.inputs(t)
			got := Decide(id, rec, p, testNow)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if !got.Reason.Known() {
				t.Errorf("reason %q is not in Reasons()", got.Reason)
			}
			if got.Allowed() != (got.Action == Allow) {
				t.Errorf("Allowed() = %v for %v", got.Allowed(), got.Action)
			}
		})
	}
}

// Every reason code is produced by some case of the table.
func TestDecideCoversEveryReason(t *testing.T) {
	seen := map[Reason]bool{}
	for _, tc := range decideCases() {
		seen[tc.want.Reason] = true
	}
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("no test case decides with %q", r)
		}
	}
	if len(Reasons()) != len(seen) {
		t.Errorf("table decides with %d reasons, Reasons() lists %d", len(seen), len(Reasons()))
	}
}

// Decide allocates nothing, whichever step decides.
func TestDecideAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters change allocation counts")
	}
	for _, tc := range decideCases() {
		t.Run(tc.name, func(t *testing.T) {
			id, rec, p := tc.inputs(t)
			var d Decision
			allocs := testing.AllocsPerRun(200, func() { d = Decide(id, rec, p, testNow) })
			if allocs != 0 {
				t.Errorf("Decide allocated %v times per call (decision %v)", allocs, d.Reason)
			}
		})
	}
}

// Values longer than the stack buffers are still matched correctly.
func TestDecideLongValues(t *testing.T) {
	long := strings.Repeat("X", 3*foldBufLen)
	p := mustPolicy(t, Config{
		BlockedMailClients: []string{"Evil-Client"},
		BlockedDeviceTypes: []string{"*" + strings.Repeat("x", 100)},
	})
	id := janeID()
	id.UserAgent = "Evil-Client/" + long
	if got := Decide(id, nil, p, testNow); got.Reason != ReasonMailClientBlocked {
		t.Errorf("long User-Agent: got %v, want %v", got.Reason, ReasonMailClientBlocked)
	}
	id = janeID()
	id.DeviceType = long
	if got := Decide(id, nil, p, testNow); got.Reason != ReasonDeviceTypeBlocked {
		t.Errorf("long device type: got %v, want %v", got.Reason, ReasonDeviceTypeBlocked)
	}
	id = janeID()
	id.User = long + "@contoso.com"
	rec := janeRec()
	rec.User = strings.ToLower(long) + "@CONTOSO.com"
	if got := Decide(id, rec, p, testNow); got.Reason != ReasonDefaultAllow {
		t.Errorf("long user: got %v, want %v", got.Reason, ReasonDefaultAllow)
	}
}

// Test mode never changes the reason, only the action.
func TestTestModeKeepsReason(t *testing.T) {
	for _, tc := range decideCases() {
		if tc.policy != nil || tc.noPolicy {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			id, rec, _ := tc.inputs(t)
			cfg := tc.cfg
			cfg.TestMode = false
			off := Decide(id, rec, mustPolicy(t, cfg), testNow)
			cfg.TestMode = true
			on := Decide(id, rec, mustPolicy(t, cfg), testNow)
			if on.Reason != off.Reason || on.Rule != off.Rule || on.Intended != off.Action {
				t.Fatalf("test mode changed the decision: off %+v, on %+v", off, on)
			}
			overridden := off.Reason == ReasonOverrideBlacklist || off.Reason == ReasonOverrideQuarantine
			switch {
			case overridden:
				if on.Action != off.Action || on.TestMode {
					t.Errorf("test mode lifted an override: %+v", on)
				}
			case off.Action == Allow:
				if on.TestMode || on.Action != Allow {
					t.Errorf("test mode marked an allow: %+v", on)
				}
			default:
				if !on.TestMode || on.Action != Allow {
					t.Errorf("test mode did not allow: %+v", on)
				}
			}
		})
	}
}

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		fields []string
	}{
		{"inactivity too large", Config{InactivityDays: MaxInactivityDays + 1}, []string{"InactivityDays"}},
		{"inactivity negative", Config{InactivityDays: -1}, []string{"InactivityDays"}},
		{"empty entries", Config{AllowedUsers: []string{" "}, BlockedMailClients: []string{""}, AllowedDeviceTypes: []string{"ok", ""}}, []string{"BlockedMailClients[0]", "AllowedUsers[0]", "AllowedDeviceTypes[1]"}},
		{"user without account", Config{BlockedUsers: []string{`CONTOSO\`, "@contoso.com"}}, []string{"BlockedUsers[0]", "BlockedUsers[1]"}},
		{"pattern too long", Config{BlockedDeviceTypes: []string{strings.Repeat("a", maxPatternLen+1)}}, []string{"BlockedDeviceTypes[0]"}},
		{"model rule halves", Config{AllowedModels: []ModelRule{{"", "x"}, {"Apple", ""}}}, []string{"AllowedModels[0].Platform", "AllowedModels[1].Model"}},
		{"OS bounds", Config{AllowedOS: []OSRule{{Platform: "Apple", Min: "x"}, {Platform: "Apple", Max: "17."}, {Platform: "Apple", Min: "17.5", Max: "17.4"}, {Min: "1"}}}, []string{"AllowedOS[0].Min", "AllowedOS[1].Max", "AllowedOS[2]", "AllowedOS[3].Platform"}},
		{"rules", Config{Rules: []ABQRule{{Characteristic: 0, Query: "x", Access: Block}, {Characteristic: DeviceType, Query: "x", Access: 0}, {Characteristic: UserAgent, Query: "", Access: Allow}}}, []string{"Rules[0].Characteristic", "Rules[1].Access", "Rules[2].Query"}},
		{"default access", Config{DefaultAccess: Action(9)}, []string{"DefaultAccess"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPolicy(tc.cfg)
			if err == nil {
				t.Fatalf("NewPolicy = %v, want an error", p)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v is not ErrInvalidPolicy", err)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var pe *PolicyError
				if !errors.As(e, &pe) {
					t.Fatalf("error %v is not a *PolicyError", e)
				}
				got = append(got, pe.Field)
			}
			if diff := cmp.Diff(tc.fields, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewPolicyAcceptsBounds(t *testing.T) {
	for _, cfg := range []Config{
		{InactivityDays: 1},
		{InactivityDays: MaxInactivityDays},
		{AllowedOS: []OSRule{{Platform: "Apple", Min: "17.4", Max: "17"}}}, // 17 covers 17.4
		{AllowedOS: []OSRule{{Platform: "Apple", Min: "17", Max: "17"}}},
		{DefaultAccess: Quarantine},
	} {
		if _, err := NewPolicy(cfg); err != nil {
			t.Errorf("NewPolicy(%+v): %v", cfg, err)
		}
	}
}

func TestNewIdentity(t *testing.T) {
	h := map[string][]string{
		"User-Agent":    {"Outlook-iOS-Android/1.0"},
		"Authorization": {"Basic Y29udG9zb1xqYW5lOnNlY3JldA=="}, // contoso\jane:secret
	}
	r, err := eas.Parse(mustURL(t, "/Microsoft-Server-ActiveSync?Cmd=Sync&User=bob&DeviceId=Dev1&DeviceType=iPhone"), h)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("198.51.100.7")
	got := NewIdentity(r, src)
	want := Identity{User: `contoso\jane`, DeviceID: "Dev1", DeviceType: "iPhone", UserAgent: "Outlook-iOS-Android/1.0", Command: eas.Sync, SourceIP: src}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("NewIdentity (-want +got):\n%s", diff)
	}
	if mc := got.MailClient(); mc != "Outlook-iOS-Android" {
		t.Errorf("MailClient = %q", mc)
	}

	r.AuthUser = ""
	if got := NewIdentity(r, src); got.User != "bob" {
		t.Errorf("without Basic auth, User = %q, want the query's", got.User)
	}
}

func TestDecisionLogValue(t *testing.T) {
	d := tested(Block, ReasonCompromised, "BlockCompromised")
	got := d.LogValue().String()
	for _, want := range []string{"action=allow", "reason=managed.compromised", "rule=BlockCompromised", "test_mode=true", "intended=block"} {
		if !strings.Contains(got, want) {
			t.Errorf("LogValue %q lacks %q", got, want)
		}
	}
	if (Decision{}).Allowed() {
		t.Error("the zero Decision allows")
	}
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
