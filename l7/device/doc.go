// Package device is the device compliance engine of the ActiveSync proxy:
// [Decide] is a pure function from a request's [Identity], the device's
// [Record] and the [Policy] in force to a [Decision] (allow, block or
// quarantine) with a stable [Reason] code, and [Store] is the in-memory
// record set it reads, with the devices discovered without a record.
//
// The policies are those of the reference gateway (general access:
// managed devices only, mail client, user and EAS device type lists;
// managed-device policies: MDM inactivity, compromised, encryption,
// model, OS, managed EAS profile; per-device whitelist/blacklist
// overrides; test mode; fail closed when no policy is loaded) and those of
// Exchange's Allow/Block/Quarantine (ABQ) device access: quarantine, rules
// by DeviceType, DeviceModel, DeviceOS and UserAgent, and a default access
// level.
//
// # Precedence
//
// Decide takes these steps in order; the first that decides wins.
//
//  1. No policy loaded (a nil Policy, or [NoPolicy]): block
//     ([ReasonNoPolicyFailClosed]), or allow ([ReasonNoPolicyAllow]) when
//     the gateway is configured to let mail flow. Test mode, part of the
//     policy that is missing, does not apply.
//  2. Negative overrides on the record: blacklist blocks
//     ([ReasonOverrideBlacklist]), quarantine quarantines
//     ([ReasonOverrideQuarantine]), whoever presents the device ID. Test
//     mode does not lift them.
//  3. Record binding: a record that names a user applies only to that user;
//     any other user presenting the device ID is blocked
//     ([ReasonUserMismatch]).
//  4. Whitelist override: allow ([ReasonOverrideWhitelist]).
//  5. General access, in the reference gateway's order: managed devices
//     only ([ReasonUnmanaged]); mail client block list, then allow list;
//     user block list, then allow list; EAS device type block list, then
//     allow list (general.*).
//  6. Managed-device policies, for managed records only, in the reference
//     gateway's order: inactivity, compromised, encryption, model, OS,
//     managed EAS profile (managed.*).
//  7. ABQ rules, in Exchange's order: any matching Block rule, else any
//     matching Quarantine rule, else any matching Allow rule (abq.rule.*);
//     within one level, DeviceType, DeviceModel, DeviceOS, UserAgent rules
//     are tried in that order, so the reported rule is deterministic.
//  8. The default access level (default.*), Allow unless configured.
//
// Test mode then turns a Block or Quarantine of steps 3 to 8 into Allow,
// keeping the reason and the intended action ([Decision.TestMode],
// [Decision.Intended]).
//
// Where this differs from Exchange, and why. Exchange
// (Set-ActiveSyncOrganizationSettings, New-ActiveSyncDeviceAccessRule)
// checks, in order: the mailbox's EAS policy compliance; a personal
// exemption that blocks; one that allows; device access rules that block,
// quarantine, allow; the default access level. Here the administrator's
// per-device override comes before every compliance policy, as the
// reference gateway's Whitelist ("allows a device to receive emails")
// does: it is the most specific statement an operator can make, and
// Exchange's own EAS policy compliance is still enforced by Exchange behind
// the gateway. A device has one override, so a personal allow and block
// cannot conflict; Exchange's "block before allow" survives as "blacklist
// holds for every user, whitelist only for the record's user". Exchange
// keeps exemptions per mailbox (user and device); records here are per
// device, bound to their user by step 3. Exchange's transient "device
// discovery" state has no counterpart: an unknown device is decided at
// once (ManagedOnly, rules, default) and remembered by [Store.Observe].
//
// Where this differs from the reference gateway, which documents no order
// between its policies: step 3 is new (a device ID is the client's own
// claim, and must not carry another user's whitelist or compliance);
// quarantine and ABQ rules are Exchange's; a managed device that never
// reported a check-in counts as inactive; an OS version that cannot be
// read fails an OS policy that bounds versions.
//
// # Matching
//
// Device IDs, users, device types, mail clients, platforms, models and
// rule query strings match without regard to case (Unicode lower-casing)
// and surrounding white space. In list entries and rule query strings,
// '*' matches any run of characters, '?' exactly one; there is no escape.
// Exchange matches a rule's QueryString exactly; a pattern without
// wildcards does the same here, so Exchange rules carry over unchanged.
// Literal entries are map look-ups; wildcard entries are tried in order
// against the value, so their number is the only policy size a decision's
// cost depends on.
//
// Mail client entries match the whole User-Agent (the reference gateway's
// mail client key, "Apple-iPhone5C3/1405.526000002") or its product name
// before the first '/' or space ("Apple-iPhone5C3"). User entries are
// "jane" (any domain), "CONTOSO\jane", "jane@contoso.com" or a wildcard
// pattern matched against the whole name; two names match when they are
// equal, or their accounts are equal and one names no domain or they name
// it in different forms (NetBIOS and DNS domains cannot be mapped to each
// other here). The same rule binds a record to its user.
//
// # OS versions
//
// [ParseOSVersion] reads dotted decimal versions ("17.4.1", "14",
// "10.0.19045"), ignoring a leading "v" and a suffix after the numbers
// ("17.4.1 (21E236)", "13-beta"). Missing components count as zero
// (14 == 14.0). OS policy bounds are inclusive and as precise as written:
// Max "17" admits every 17.x.y, Max "17.4" admits 17.4.9 but not 17.5,
// Min "17.4" admits 17.4.0. A device whose version is missing or
// unparseable satisfies only entries without bounds
// ([ReasonOSVersionUnknown] otherwise): the gateway cannot tell, so it
// fails closed.
//
// # Inactivity
//
// InactivityDays counts 24-hour periods from the record's LastCheckIn: at
// exactly InactivityDays the device is still active, a nanosecond later it
// is not.
//
// # Performance
//
// Decide allocates nothing (verified by tests with testing.AllocsPerRun)
// for values up to 256 bytes: request values are folded into stack
// buffers and looked up in maps keyed by folded strings. [Store.Lookup] is
// one or two map look-ups on an immutable snapshot, whatever the number of
// records. Policies are compiled once by [NewPolicy].
//
// It reads l7/eas's request identity; it must not know HTTP, persistence
// or the proxy: records reach it from l7/devicesync, the proxy calls
// Decide. Nothing under policy/ imports it.
package device
