// Package adminapi is the enforcer daemon's admin API as its clients see
// it: the paths, the JSON wire types, and Client, which talks to the
// daemon over its root-only unix socket (admin.socket). The CLI's commands
// reach the daemon only through this package; only `enforcer run` links
// the daemon (cmd/enforcer/daemon) in, and the daemon serves these types.
//
// It must not know how the daemon works: no daemon, loader (BPF), state
// store or L7 package is imported here, so a client stays small and
// cannot reach around the API. test/layout checks that.
//
// The API is JSON over HTTP on the socket; `curl --unix-socket
// /run/enforcer/enforcer.sock http://enforcer/v1/status` works too. The
// GET paths of PathStatus, PathStats, PathServices and the device paths
// are also served read-only on the admin page (admin.listen).
package adminapi
