// Package compose makes the datapath's policy: it is the one place that
// turns the configured services and deny list, the runtime changes of the
// state store (policy/store), the service ids and the GeoIP country table
// into the policy.Policy the XDP program enforces and the policy.Model that
// explains it. The daemon (`enforcer run`) and the offline CLI commands
// (`enforcer check --offline`, `geoip lookup --config`) both call Compose,
// so they cannot disagree.
//
// It owns:
//   - the service-id allocator (AssignIDs): a service keeps its datapath id,
//     and so its counters, across restarts and config edits;
//   - the layering of the two sources of entries: the config file's entries
//     are the file's, runtime changes (`enforcer allow|deny|country`) go on
//     top and can take back only what they added (CheckEntries,
//     SplitCountries).
//
// It must not know the config file's format or where it lives
// (cmd/enforcer/config converts into Input), the admin API, the kernel
// (loader), or anything of the L7 proxy (l7/...).
package compose
