package device

import (
	"net/netip"

	"github.com/mailgate/enforcer/l7/eas"
)

// Identity is what a request says about the device and user behind it:
// the input of [Decide] besides the device's record.
type Identity struct {
	// User is the account, DOMAIN\user or user@domain as sent.
	User string
	// DeviceID is the EAS DeviceId.
	DeviceID string
	// DeviceType is the EAS DeviceType ("iPhone", "Android", "SmartPhone").
	DeviceType string
	// UserAgent is the User-Agent header: the mail client. See
	// [Identity.MailClient].
	UserAgent string
	// DeviceModel and DeviceOS are what the device itself reported in the
	// EAS Settings command's DeviceInformation ([MS-ASCMD] 2.2.3.163),
	// when the proxy has seen it: Exchange's DeviceModel and DeviceOS
	// characteristics. Empty when unknown; ABQ rules then fall back to the
	// record's Model and "Platform OSVersion".
	DeviceModel string
	DeviceOS    string
	// Command is the EAS command.
	Command eas.Command
	// ProtocolVersion is the EAS protocol version; zero when unknown.
	ProtocolVersion eas.Version
	// SourceIP is the client address as the proxy sees it.
	SourceIP netip.Addr
}

// NewIdentity returns the identity of a parsed EAS request from source
// address src. The user is the one of Basic authentication when there is
// one, since that is the name Exchange authenticates and whose mailbox it
// serves ([eas.Request] AuthUser); otherwise the query's User.
func NewIdentity(r *eas.Request, src netip.Addr) Identity {
	user := r.AuthUser
	if user == "" {
		user = r.User
	}
	return Identity{
		User:            user,
		DeviceID:        r.DeviceID,
		DeviceType:      r.DeviceType,
		UserAgent:       r.UserAgent,
		Command:         r.Command,
		ProtocolVersion: r.ProtocolVersion,
		SourceIP:        src,
	}
}

// MailClient returns the mail client's product name, the User-Agent up to
// its first '/' or space: "Apple-iPhone5C3" for
// "Apple-iPhone5C3/1405.526000002", "Outlook-iOS-Android" for
// "Outlook-iOS-Android/1.0". Mail client lists match either this or the
// whole User-Agent.
func (id Identity) MailClient() string {
	ua := trimSpace(id.UserAgent)
	for i := 0; i < len(ua); i++ {
		if ua[i] == '/' || ua[i] == ' ' {
			return ua[:i]
		}
	}
	return ua
}
