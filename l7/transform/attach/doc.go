// Package attach decides what happens to a mail attachment on its way to a
// device (allow, block, encrypt) and encrypts attachments with a key
// unique to the device-user pair.
//
// # Policy
//
// A [Policy] holds two ordered [RuleSet]s, for managed and unmanaged
// devices. Rules match on file name extension or media type; the first
// match wins, else the set's Default. File names are compared without
// regard to case and without the trailing dots and spaces Windows ignores.
//
// # Encryption
//
// [LoadOrCreateMaster] keeps one 32-byte master secret in a 0600 file;
// [Master.Key] derives the AES-256 key of a device-user pair with HKDF.
// [NewEncrypter] and [NewDecrypter] write and read a chunked AES-256-GCM
// stream (the STREAM construction), so an attachment is encrypted as it
// flows and never held whole; FORMAT.md specifies the bytes for the
// device-side reader. [ErrAuth] reports a wrong key or a damaged,
// truncated, extended or reordered stream.
//
// It must not know EAS, WBXML, MIME or the proxy: package transform calls
// it.
package attach
