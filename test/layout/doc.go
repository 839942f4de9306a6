// Package layout holds the tests of the repository's package layout: the
// arrows between packages that must not exist, checked on every `go
// test ./...` so that an import that breaks the layout fails at once.
//
//   - policy/... is the network policy only: no package under policy/
//     depends, directly or not, on a package under l7/ (the proxy and the
//     device engine use the policy, never the other way round) or under
//     cmd/ (the application's config converts into policy/compose's input).
//   - The CLI (cmd/enforcer) reaches the daemon only through the admin
//     API's client, cmd/enforcer/adminapi: only run.go, the `enforcer run`
//     command, imports cmd/enforcer/daemon, and nothing else of the CLI
//     links it in through another package.
//   - adminapi stays a client: it links in no daemon, kernel (loader),
//     state store or L7 package.
//
// The checks read the import lines of every .go file, for every GOOS and
// with test files, so they are stricter than `go list -deps` on one
// machine. README.md's layout section describes the tree.
package layout
