// Package explain is what `enforcer check` prints: the verdict the
// datapath gives a source address on a service (or a protocol and port),
// and the rule that decides it, worked out on the reference model
// (policy.Model) of the policy in force. The daemon answers the admin
// API's check with it and the CLI's `check --offline` and `geoip lookup
// --config` call it directly, on a policy from policy/compose: both give
// the same answer.
//
// It must not know where the policy comes from (the config file, the
// state store, the GeoIP database: that is policy/compose), how the
// answer travels (the admin API), the kernel, or the L7 proxy (l7/...).
package explain
