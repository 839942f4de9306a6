package adminapi

import "time"

// The device and L7 part of the admin API. The GET paths are also served,
// read-only, on the admin page's loopback listener (admin.listen).
const (
	PathDevices     = "/v1/devices"               // GET ?user=&type=&client=&override=&limit=
	PathDevice      = "/v1/devices/{id}"          // GET one device
	PathOverride    = "/v1/devices/{id}/override" // POST {"override": ...}
	PathImport      = "/v1/devices/import"        // POST CSV body
	PathPolicy      = "/v1/policy"                // GET the device policy in force
	PathPolicyCheck = "/v1/policy/check"          // GET ?device_id=&user=&type=&agent=&model=&os=
	PathLog         = "/v1/log"                   // GET, PUT LogChange
	PathExport      = "/v1/export/{name}"         // GET devices.csv, discovered.csv, accounts.csv, attachments.csv, redirects.csv
	PathL7          = "/v1/l7"                    // GET L7Status
	// PathAttachmentKey is the key look-up for the managed content app
	// (GET ?device_id=&user=): the unix socket only, never the admin page.
	PathAttachmentKey = "/v1/attachment-key"
)

// AttachmentKey is a device-user pair's attachment key, for the managed
// content app that opens encrypted attachments
// (l7/transform/attach/FORMAT.md).
type AttachmentKey struct {
	DeviceID string `json:"device_id"`
	User     string `json:"user"`
	KeyID    string `json:"key_id"`
	Key      string `json:"key"` // base64, 32 bytes (AES-256)
	Format   string `json:"format"`
}

// DeviceView is what the gateway knows of one device: its record (from
// device management, with the administrator's override), what requests
// showed of it, and the decision its last request would get now.
type DeviceView struct {
	DeviceID string `json:"device_id"`
	User     string `json:"user,omitempty"`

	HasRecord   bool       `json:"has_record"`
	Managed     bool       `json:"managed"`
	Compromised string     `json:"compromised,omitempty"`
	Encrypted   string     `json:"encrypted,omitempty"`
	Platform    string     `json:"platform,omitempty"`
	Model       string     `json:"model,omitempty"`
	OSVersion   string     `json:"os_version,omitempty"`
	LastCheckIn *time.Time `json:"last_check_in,omitempty"`
	EASProfile  bool       `json:"eas_profile"`
	Override    string     `json:"override"`                 // in effect
	AdminSet    bool       `json:"admin_override,omitempty"` // set with `enforcer device allow|block|quarantine`
	Updated     *time.Time `json:"updated,omitempty"`

	Seen        bool       `json:"seen"`
	DeviceType  string     `json:"device_type,omitempty"`
	UserAgent   string     `json:"user_agent,omitempty"`
	LastCommand string     `json:"last_command,omitempty"`
	SourceIP    string     `json:"source_ip,omitempty"`
	FirstSeen   *time.Time `json:"first_seen,omitempty"`
	LastSeen    *time.Time `json:"last_seen,omitempty"`
	Requests    uint64     `json:"requests,omitempty"`

	Decision DecisionView `json:"decision"`
}

// DecisionView is a compliance decision.
type DecisionView struct {
	Action   string `json:"action"`
	Intended string `json:"intended,omitempty"` // what test mode let through
	Reason   string `json:"reason"`
	Rule     string `json:"rule,omitempty"`
	TestMode bool   `json:"test_mode,omitempty"`
}

// OverrideChange sets an administrator override: whitelist, blacklist,
// quarantine, or default (remove the administrator's override).
type OverrideChange struct {
	Override string `json:"override"`
}

// PolicyView is the device policy in force.
type PolicyView struct {
	// Source is "config" (devices.policy in the file), "device-management"
	// (pushed or pulled) or "none".
	Source              string `json:"source"`
	Revision            string `json:"revision,omitempty"`
	AllowMailIfNoPolicy bool   `json:"allow_mail_if_no_policy"`
	TestMode            bool   `json:"test_mode"`
	// YAML is the policy written as a devices.policy section.
	YAML string `json:"yaml,omitempty"`
	// Synced is the revision of the policy from device management when the
	// file's policy overrides it.
	SyncedRevision string `json:"synced_revision,omitempty"`
	Records        int    `json:"records"`
	Discovered     int    `json:"discovered"`
	// Transforms is the email security in force, as a transforms section;
	// "" when off.
	Transforms string `json:"transforms,omitempty"`
	// TransformsSource is "config" or "device-management".
	TransformsSource string `json:"transforms_source,omitempty"`
}

// LogSettings are the run-time log settings.
type LogSettings struct {
	Level   string   `json:"level"`
	Users   []string `json:"users"`   // verbose logging for these users
	Devices []string `json:"devices"` // and these devices
}

// LogChange changes the run-time log settings; empty fields change
// nothing.
type LogChange struct {
	Level         string   `json:"level,omitempty"`
	AddUsers      []string `json:"add_users,omitempty"`
	RemoveUsers   []string `json:"remove_users,omitempty"`
	AddDevices    []string `json:"add_devices,omitempty"`
	RemoveDevices []string `json:"remove_devices,omitempty"`
	Clear         bool     `json:"clear,omitempty"` // drop every target first
}

// L7Status is the proxy and sync state.
type L7Status struct {
	Proxy        bool       `json:"proxy"`
	Listen       string     `json:"listen,omitempty"`
	Upstream     string     `json:"upstream,omitempty"`
	OpenConns    int64      `json:"open_connections"`
	Redirects    int        `json:"redirects"`
	PolicySource string     `json:"policy_source"`
	Records      int        `json:"records"`
	Discovered   int        `json:"discovered"`
	Push         string     `json:"push,omitempty"`
	Pull         string     `json:"pull,omitempty"`
	LastPull     *time.Time `json:"last_pull,omitempty"`
}
