// Package daemon is `enforcer run`: it wires the config file
// (cmd/enforcer/config), the state store, the GeoIP database, the XDP
// datapath (loader) and the L7 gateway (l7/...) together, serves the admin
// API (cmd/enforcer/adminapi) on a root-only unix socket, the read-only
// admin page and the Prometheus metrics, and applies changes without an
// enforcement gap.
//
// It wires and serves; it decides nothing of the policy itself: the
// policy in force and the service ids come from policy/compose, the
// verdicts `enforcer check` explains from policy/explain, the device
// decisions from l7/device. It must not be imported by the CLI's commands
// (only by cmd/enforcer/run.go; test/layout checks that): they reach it
// through adminapi.Client.
package daemon
