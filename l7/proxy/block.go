package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// EAS common status codes ([MS-ASCMD] 2.2.2) the gateway answers refused
// requests with. Clients treat each as needing an administrator (or, for
// 142 and 145, one re-provisioning) rather than as a reason to retry.
const (
	// StatusUserDisabledForSync (126): the user may not sync.
	StatusUserDisabledForSync = 126
	// StatusDeviceBlocked (129, DeviceIsBlockedForThisUser): the device
	// may not sync for this user.
	StatusDeviceBlocked = 129
	// StatusAccessDenied (130): used for quarantine. Exchange has no
	// status for quarantine (it lets the device sync an Inbox holding one
	// notice); 177 MaximumDevicesReached, sometimes used, would tell the
	// user to delete device partnerships, which does not help.
	StatusAccessDenied = 130
	// StatusDeviceNotProvisioned (142): the device lacks the managed EAS
	// profile; the client re-provisions once.
	StatusDeviceNotProvisioned = 142
	// StatusExternallyManaged (145, ExternallyManagedDevicesNotAllowed):
	// only managed devices may sync; the client may re-provision once.
	StatusExternallyManaged = 145
)

// blockForm is where a command's response carries its Status: the root
// element, an optional element between root and Status (for the three
// commands whose schema has no top-level Status), and the Status element.
type blockForm struct {
	root, wrap, status string
}

// blockForms indexes the WBXML response form by command code. A zero entry
// (GetAttachment, whose response is the raw attachment, and the protocol
// 2.x legacy commands) has no WBXML response: such a command is refused
// with HTTP 403.
var blockForms = func() (f [eas.NumCommands]blockForm) {
	top := func(ns, root string) blockForm { return blockForm{root: ns + ":" + root, status: ns + ":Status"} }
	f[eas.Sync] = top("AirSync", "Sync")
	f[eas.SendMail] = top("ComposeMail", "SendMail")
	f[eas.SmartForward] = top("ComposeMail", "SmartForward")
	f[eas.SmartReply] = top("ComposeMail", "SmartReply")
	f[eas.FolderSync] = top("FolderHierarchy", "FolderSync")
	f[eas.FolderCreate] = top("FolderHierarchy", "FolderCreate")
	f[eas.FolderDelete] = top("FolderHierarchy", "FolderDelete")
	f[eas.FolderUpdate] = top("FolderHierarchy", "FolderUpdate")
	// [MS-ASCMD] 2.2.3.177.10, .7 and .9: Status of MoveItems and
	// GetItemEstimate is a child of Response, of MeetingResponse a child
	// of Result; a client validating against the schema finds it nowhere
	// else.
	f[eas.MoveItems] = blockForm{root: "Move:MoveItems", wrap: "Move:Response", status: "Move:Status"}
	f[eas.GetItemEstimate] = blockForm{root: "GetItemEstimate:GetItemEstimate", wrap: "GetItemEstimate:Response", status: "GetItemEstimate:Status"}
	f[eas.MeetingResponse] = blockForm{root: "MeetingResponse:MeetingResponse", wrap: "MeetingResponse:Result", status: "MeetingResponse:Status"}
	f[eas.Search] = top("Search", "Search")
	f[eas.Settings] = top("Settings", "Settings")
	f[eas.Ping] = top("Ping", "Ping")
	f[eas.ItemOperations] = top("ItemOperations", "ItemOperations")
	f[eas.Provision] = top("Provision", "Provision")
	f[eas.ResolveRecipients] = top("ResolveRecipients", "ResolveRecipients")
	f[eas.ValidateCert] = top("ValidateCert", "ValidateCert")
	f[eas.Find] = top("Find", "Find")
	return f
}()

// blockCodes are the status codes blockBodies holds.
var blockCodes = [...]int{StatusUserDisabledForSync, StatusDeviceBlocked, StatusAccessDenied, StatusDeviceNotProvisioned, StatusExternallyManaged}

// blockBodies holds the encoded WBXML body per command and code, built once:
// a block costs no encoding.
var blockBodies = func() map[blockKey][]byte {
	m := make(map[blockKey][]byte)
	for c, f := range blockForms {
		if f.root == "" {
			continue
		}
		for _, code := range blockCodes {
			m[blockKey{eas.Command(c), code}] = encodeBlock(f, code)
		}
	}
	return m
}()

type blockKey struct {
	cmd  eas.Command
	code int
}

func encodeBlock(f blockForm, code int) []byte {
	st := wbxml.ElemText(f.status, strconv.Itoa(code))
	if f.wrap != "" {
		st = wbxml.Elem(f.wrap, st)
	}
	b, err := wbxml.Encode(wbxml.Elem(f.root, st))
	if err != nil {
		panic("proxy: encoding block response " + f.root + ": " + err.Error())
	}
	return b
}

// easStatus is the one place a refusing decision becomes an EAS status
// code. Quarantine, whatever its reason, is 130; user policies are 126;
// the managed-only policy is 145; a missing managed EAS profile is 142;
// every other block is 129.
func easStatus(d device.Decision) int {
	if d.Action == device.Quarantine {
		return StatusAccessDenied
	}
	switch d.Reason {
	case device.ReasonUserBlocked, device.ReasonUserNotAllowed:
		return StatusUserDisabledForSync
	case device.ReasonUnmanaged:
		return StatusExternallyManaged
	case device.ReasonNoEASProfile:
		return StatusDeviceNotProvisioned
	}
	return StatusDeviceBlocked
}

// WBXMLContentType is the media type of EAS WBXML bodies ([MS-ASHTTP]
// 2.2.1.1.2.4).
const WBXMLContentType = "application/vnd.ms-sync.wbxml"

// MultipartContentType is the content type of a multipart ItemOperations
// response ([MS-ASCMD] 2.2.2.9.1.1).
const MultipartContentType = "application/vnd.ms-sync.multipart"

// blockResponse is how the gateway answers a request it refuses.
type blockResponse struct {
	status     int
	easStatus  int // 0 when the body is not WBXML
	retryAfter time.Duration
	body       []byte
}

// easBlock chooses the response to an EAS request the decision refuses
// (see the package documentation, "Block responses"):
//
//   - no policy loaded, failing closed: 503 with Retry-After, a transient
//     condition the client backs off from;
//   - protocol older than 14.0, which predates the common status codes:
//     403, as Exchange 2007 answered;
//   - a command whose response has no WBXML form: 403;
//   - otherwise 200 with the command's response carrying the EAS status.
//     Provision never gets 142 or 145, whose resolution is to provision
//     again: it gets 129, so a re-provisioning client stops after one
//     round.
func easBlock(cmd eas.Command, ver eas.Version, d device.Decision, retryAfter time.Duration) blockResponse {
	if d.Reason == device.ReasonNoPolicyFailClosed {
		return blockResponse{status: http.StatusServiceUnavailable, retryAfter: retryAfter}
	}
	if !ver.IsZero() && ver.Less(eas.V140) {
		return blockResponse{status: http.StatusForbidden}
	}
	if !cmd.Known() || blockForms[cmd].root == "" {
		return blockResponse{status: http.StatusForbidden}
	}
	code := easStatus(d)
	if cmd == eas.Provision && (code == StatusDeviceNotProvisioned || code == StatusExternallyManaged) {
		code = StatusDeviceBlocked
	}
	return blockResponse{status: http.StatusOK, easStatus: code, body: blockBodies[blockKey{cmd, code}]}
}

// write sends the block response.
func (b blockResponse) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "private, no-store")
	if b.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(b.retryAfter.Round(time.Second)/time.Second)))
	}
	if b.body == nil {
		writeError(w, b.status, nil)
		return
	}
	h.Set("Content-Type", WBXMLContentType)
	h.Set("Content-Length", strconv.Itoa(len(b.body)))
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body)
}
