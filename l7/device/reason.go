package device

// Reason is the stable code of the step of [Decide] that reached a
// decision. Codes are dotted lower-case words, grouped by the step of the
// precedence order (see the package documentation) that emits them. They
// appear in transaction logs, metrics labels and CSV exports: never rename
// one; add new codes instead.
type Reason string

// Reasons of the "no policy" step: no compliance policy has been loaded.
const (
	// ReasonNoPolicyFailClosed blocks every request while no policy is
	// loaded (the default, like the reference gateway's).
	ReasonNoPolicyFailClosed Reason = "policy.none.fail_closed"
	// ReasonNoPolicyAllow allows every request while no policy is loaded,
	// because the gateway is configured to let mail flow ("Allow email
	// flow if no policies are present").
	ReasonNoPolicyAllow Reason = "policy.none.allow"
)

// Reasons of the per-device override step.
const (
	// ReasonOverrideBlacklist blocks a device an administrator blacklisted.
	ReasonOverrideBlacklist Reason = "override.blacklist"
	// ReasonOverrideQuarantine quarantines a device an administrator put in
	// quarantine.
	ReasonOverrideQuarantine Reason = "override.quarantine"
	// ReasonOverrideWhitelist allows a device an administrator whitelisted,
	// whatever its compliance.
	ReasonOverrideWhitelist Reason = "override.whitelist"
)

// Reasons of the record binding step.
const (
	// ReasonUserMismatch blocks a request whose user is not the user the
	// device record belongs to: a device ID is chosen by the client, so
	// another account presenting it must not inherit its record.
	ReasonUserMismatch Reason = "record.user_mismatch"
)

// Reasons of the general access policies.
const (
	// ReasonUnmanaged blocks a device that has no record, or whose record
	// is not managed, when only managed devices may sync.
	ReasonUnmanaged Reason = "general.unmanaged"
	// ReasonMailClientBlocked blocks a User-Agent on the mail client block
	// list.
	ReasonMailClientBlocked Reason = "general.mail_client.blocked"
	// ReasonMailClientNotAllowed blocks a User-Agent missing from a
	// non-empty mail client allow list.
	ReasonMailClientNotAllowed Reason = "general.mail_client.not_allowed"
	// ReasonUserBlocked blocks a user on the user block list.
	ReasonUserBlocked Reason = "general.user.blocked"
	// ReasonUserNotAllowed blocks a user missing from a non-empty user
	// allow list.
	ReasonUserNotAllowed Reason = "general.user.not_allowed"
	// ReasonDeviceTypeBlocked blocks an EAS DeviceType on the device type
	// block list.
	ReasonDeviceTypeBlocked Reason = "general.device_type.blocked"
	// ReasonDeviceTypeNotAllowed blocks an EAS DeviceType missing from a
	// non-empty device type allow list.
	ReasonDeviceTypeNotAllowed Reason = "general.device_type.not_allowed"
)

// Reasons of the managed-device policies; they apply to managed devices
// only.
const (
	// ReasonInactive blocks a managed device whose last check-in with
	// device management is more than InactivityDays ago, or unknown.
	ReasonInactive Reason = "managed.inactive"
	// ReasonCompromised blocks a managed device that reported itself
	// compromised (jailbroken, rooted).
	ReasonCompromised Reason = "managed.compromised"
	// ReasonNotEncrypted blocks a managed device that reported its storage
	// unencrypted.
	ReasonNotEncrypted Reason = "managed.not_encrypted"
	// ReasonModelNotAllowed blocks a managed device whose platform and
	// model match no AllowedModels entry.
	ReasonModelNotAllowed Reason = "managed.model.not_allowed"
	// ReasonOSNotAllowed blocks a managed device whose platform matches no
	// AllowedOS entry, or whose OS version lies outside every matching
	// entry's bounds.
	ReasonOSNotAllowed Reason = "managed.os.not_allowed"
	// ReasonOSVersionUnknown blocks a managed device whose OS version is
	// missing or unparseable where the matching AllowedOS entries bound the
	// version.
	ReasonOSVersionUnknown Reason = "managed.os.version_unknown"
	// ReasonNoEASProfile blocks a managed device that does not have the
	// managed Exchange ActiveSync profile when the policy requires it.
	ReasonNoEASProfile Reason = "managed.eas_profile.missing"
)

// Reasons of Exchange-style device access (ABQ) rules.
const (
	// ReasonABQBlock blocks a device matched by a Block rule.
	ReasonABQBlock Reason = "abq.rule.block"
	// ReasonABQQuarantine quarantines a device matched by a Quarantine
	// rule and by no Block rule.
	ReasonABQQuarantine Reason = "abq.rule.quarantine"
	// ReasonABQAllow allows a device matched by an Allow rule and by no
	// Block or Quarantine rule.
	ReasonABQAllow Reason = "abq.rule.allow"
)

// Reasons of the default access level, reached when nothing else decided.
const (
	// ReasonDefaultAllow allows a device that passed every policy.
	ReasonDefaultAllow Reason = "default.allow"
	// ReasonDefaultBlock blocks a device that passed every policy because
	// the default access level is Block.
	ReasonDefaultBlock Reason = "default.block"
	// ReasonDefaultQuarantine quarantines a device that passed every
	// policy because the default access level is Quarantine.
	ReasonDefaultQuarantine Reason = "default.quarantine"
)

var allReasons = []Reason{
	ReasonNoPolicyFailClosed, ReasonNoPolicyAllow,
	ReasonOverrideBlacklist, ReasonOverrideQuarantine, ReasonOverrideWhitelist,
	ReasonUserMismatch,
	ReasonUnmanaged, ReasonMailClientBlocked, ReasonMailClientNotAllowed,
	ReasonUserBlocked, ReasonUserNotAllowed,
	ReasonDeviceTypeBlocked, ReasonDeviceTypeNotAllowed,
	ReasonInactive, ReasonCompromised, ReasonNotEncrypted,
	ReasonModelNotAllowed, ReasonOSNotAllowed, ReasonOSVersionUnknown, ReasonNoEASProfile,
	ReasonABQBlock, ReasonABQQuarantine, ReasonABQAllow,
	ReasonDefaultAllow, ReasonDefaultBlock, ReasonDefaultQuarantine,
}

// Reasons returns every reason code in precedence order, for metrics
// (pre-registering label values) and documentation.
func Reasons() []Reason { return append([]Reason(nil), allReasons...) }

// Known reports whether r is one of the codes this package emits.
func (r Reason) Known() bool {
	for _, k := range allReasons {
		if r == k {
			return true
		}
	}
	return false
}
