// Package daemon is `enforcer run`: it wires the config file
// (cmd/enforcer/config), the state store, the GeoIP database, the XDP
// datapath (loader) and the L7 gateway (l7/...) together, serves the admin
// API (cmd/enforcer/adminapi) on a root-only unix socket, the read-only
// admin page and the Prometheus metrics, and applies changes without an
// enforcement gap.
//
// It owns the process: start, apply, reload (a setting only a restart
// applies refuses the reload), the GeoIP reload (the database alone, never
// the config file), and the lifecycle of every server (servers: the admin
// socket, admin page, metrics, proxy, push API and pull sync), whose
// errors status shows.
//
// It wires and serves; it decides nothing of the policy itself: the
// policy in force and the service ids come from policy/compose, the
// verdicts `enforcer check` explains from policy/explain, the device
// decisions from l7/device. It must not be imported by the CLI's commands
// (only by cmd/enforcer/run.go; test/layout checks that): they reach it
// through adminapi.Client.
package daemon
