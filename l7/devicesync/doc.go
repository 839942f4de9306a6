// Package devicesync persists the device records and the device compliance
// policy of the [device] engine, and brings them in from device management
// by push (an HTTP API it calls) and by pull (a delta sync the gateway
// runs on an interval), so that several gateways converge on the same
// state and nothing is lost across a crash or restart.
//
// # Persistence
//
// Everything lives in one bbolt file, <state dir>/devices.db ([FileName]),
// opened by [Open] with bbolt's file lock (another process holding it
// makes Open fail with [ErrLocked] after Options.LockTimeout). Buckets:
//
//	meta              schema → "1"
//	records           folded device ID → RecordDoc JSON, as device management sent it
//	tombstones        folded device ID → {"device_id","deleted"}: deletions, kept Options.TombstoneTTL
//	overrides         folded device ID → {"device_id","override","set"}: the administrator's
//	policy            current → PolicyDoc JSON (revision, updated and the policy)
//	pull              cursor → the pull cursor; snapshot_time → set while a pull snapshot is open
//	pull_seen         folded device IDs listed so far by the open pull snapshot
//	snapshot          time → the time of the latest complete snapshot
//	snapshot_members  folded device IDs that snapshot listed
//
// [DB.Apply] validates a [Change] whole, commits it (with the pull cursor,
// if any) in one transaction that bbolt fsyncs before it returns, and only
// then updates the in-memory [device.Store]; [DB.Load] fills a store from
// the file at start-up. The store's record of a device is its effective
// record: device management's, with the administrator's override (set by
// [DB.SetOverride], the CLI's "enforcer device allow|block|quarantine|
// default ID") in place of device management's when there is one.
//
// Records can also be exchanged as CSV ([device.WriteCSV],
// [device.ReadCSV], columns named as the JSON fields below): an import is
// ReadCSV, then Apply with the records as Upsert (and Replace for a
// complete list).
//
// # Convergence
//
// Every record carries the time device management changed it ("updated";
// a record without one takes the time of its change, or of its arrival).
// For each device the file keeps the latest state it has been told of,
// whatever the order of arrival:
//
//   - a record older than the stored one is ignored (counted as stale);
//     of two different records with the same time, the one whose stored
//     JSON sorts last wins;
//   - a deletion removes a record not newer than itself, and is
//     remembered (a tombstone) so that an older record arriving later is
//     ignored; a deletion wins a tie with a record;
//   - a snapshot (bulk "replace", pull "full") taken at time T deletes
//     every record not in it and not updated after T, and its list of
//     devices is kept, so that a record from before T of a device it did
//     not list is ignored when it arrives later;
//   - the policy with the latest "updated" wins, ties as for records.
//
// Tombstones are forgotten after Options.TombstoneTTL (30 days): a change
// delayed longer than that may not converge.
//
// # Wire format
//
// JSON, UTF-8, snake_case. Unknown fields are refused, naming the field;
// times are RFC 3339 ("2024-05-01T12:00:00Z", fractions allowed). A body
// that is not valid UTF-8 is refused whole (encoding/json would turn the
// bad bytes into U+FFFD and could merge two device IDs), and a device ID
// may hold no control characters.
//
// Device record:
//
//	{
//	  "device_id":     "ApplDNPXK3",   required; compared without regard to case; at most 256 bytes of text
//	  "user":          "CONTOSO\\jane", or "jane@contoso.com"; omitted: any user
//	  "managed":       true,           enrolled in device management; default false
//	  "compromised":   "yes",          "yes", "no" or omitted (not reported)
//	  "encrypted":     "no",           "yes", "no" or omitted (not reported)
//	  "platform":      "Apple",
//	  "model":         "iPhone 15 Pro",
//	  "os_version":    "17.4.1",
//	  "last_check_in": "2024-05-01T11:58:00Z", omitted: never
//	  "eas_profile":   true,           managed EAS profile installed; default false
//	  "override":      "default",      default|whitelist|blacklist|quarantine (device management's)
//	  "updated":       "2024-05-01T12:00:00Z"  when device management changed it; see Convergence
//	}
//
// Text fields other than device_id hold at most 1024 bytes.
//
// Deletion: the device ID as a JSON string (it takes the time of its
// change), or {"device_id": "...", "deleted": "<time>"}.
//
// Policy document: "revision" (opaque, reported by diagnostics),
// "updated" (orders policies, see Convergence) and every field of
// [device.Config] under its json key, the key the configuration file's
// devices.policy uses (REFERENCE.md lists them): managed_only,
// allowed_os ([{"platform","min","max"}]), rules
// ([{"name","characteristic","query","access"}], characteristic
// DeviceType|DeviceModel|DeviceOS|UserAgent, access
// allow|block|quarantine as [device.Action] spells them), and so on.
// Omitted fields take device.Config's defaults. A policy that
// [device.NewPolicy] refuses is refused whole, naming the field
// ("policy: allowed_os[2].min: ...").
//
// Change (bulk body):
//
//	{"upsert": [record...], "delete": [deletion...], "replace": false,
//	 "policy": {policy} or null, "time": "<time>"}
//
// "replace": true makes "upsert" the complete set of records (a snapshot
// taken at "time"). "time" defaults to the time the gateway receives it.
//
// Result (the answer to every change):
//
//	{"upserted": 1, "deleted": 0, "stale": 0, "unchanged": 0, "policy": "updated"}
//
// "policy" is "updated", "stale" or "unchanged", omitted when the change
// had none. A change is valid or refused whole: the error names the list,
// index, device and field ("upsert[3] (device \"abc\"): last_check_in:
// year outside 1..9999").
//
// # Push
//
// [NewPushHandler] serves, under whatever prefix the daemon mounts it,
// with "Authorization: Bearer <token>" (one of PushOptions.Tokens,
// compared in constant time; otherwise 401 with WWW-Authenticate: Bearer):
//
//	PUT    /v1/devices/{id}   body: device record (device_id may be omitted; must match {id})
//	                          enrolls or updates one device            → 200 Result
//	DELETE /v1/devices/{id}   optional ?deleted=<time>; removes it     → 200 Result
//	GET    /v1/devices/{id}   what the gateway holds: {"record", "admin_override",
//	                          "deleted", "effective"}                  → 200, or 404
//	POST   /v1/devices/bulk   body: change                             → 200 Result
//	PUT    /v1/policy         body: policy document                    → 200 Result
//	GET    /v1/policy         the stored policy document               → 200, or 404
//	PUT    /v1/transforms     body: email security document (the config
//	                          file's transforms section as JSON), checked
//	                          by PushOptions.Transforms, stored, put in
//	                          force                                    → 200, or 400
//	GET    /v1/transforms     the stored document                      → 200, or 404
//	DELETE /v1/transforms     removes it                               → 200
//
// {id} is path-escaped (a '/' in a device ID is %2F). Bodies must be
// Content-Type application/json (else 415) and at most
// PushOptions.MaxBodyBytes (1 MiB) for one record or the policy,
// PushOptions.MaxBulkBytes (64 MiB) for bulk (else 413). Errors are
// {"error": "..."}: 400 invalid JSON or change, 401 authentication,
// 404 unknown route or device, 405 method (with Allow), 413, 415,
// 500 the database failed, 503 the database is closed. A 200 means the
// change is on disk and in force.
//
// # Pull
//
// A [Puller] asks device management for the changes since its cursor:
//
//	GET <URL>?cursor=<opaque>            (no cursor: from the beginning)
//	Authorization: Bearer <token>
//	Accept: application/json
//
// and expects 200 with Content-Type application/json and at most
// PullOptions.MaxPageBytes (64 MiB) of
//
//	{"cursor": "next", "full": false, "records": [record...],
//	 "deleted": [deletion...], "policy": {policy} or null,
//	 "transforms": {email security document} or null,
//	 "more": false, "time": "<time>"}
//
// "transforms", when present, is the document PUT on /v1/transforms
// would store: checked by the gateway (PullOptions.Transforms) before
// anything of the page is applied, stored with the page, then put in
// force; null removes the stored one, and a page without the field
// leaves it as it is.
//
// "cursor" (required, opaque, non-empty) is sent back to get the next
// page. "more": true asks for the next page at once. "full": true starts
// a complete snapshot taken at "time" (default: when the gateway applies
// the page): the records of this page and of the pages that follow while
// "more" is true are every record; devices not among them are deleted
// when the page with "more": false arrives. "time", optional, is when
// the page was taken; it also dates records and deletions without their
// own time.
//
// Each page is applied together with its cursor in one transaction, so a
// restart in the middle of a sync resumes after the last committed page:
// nothing is lost and no page is applied twice; an open snapshot's list
// is on disk too. A page that is not valid JSON, is too large, or holds
// an invalid change or email security document fails the sync without
// moving the cursor; the puller
// logs it and retries (after 30 s, doubling up to the interval). A
// server should answer the cursor of a page it no longer has with a
// "full" snapshot.
//
// It must not know the proxy, the daemon or the config file: the daemon
// wires it (the push server's listener, the pull loop, both in the
// daemon's servers) and hands it the [device.Store] it updates. Its HTTP
// errors follow l7/httperror.
package devicesync
