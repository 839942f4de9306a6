package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxEWSPrefix bounds what is read of an EWS request to find its
// operation: the envelope, its header (impersonation, version, time zone)
// and the operation's start tag fit in a few kilobytes.
const maxEWSPrefix = 64 << 10

// SOAP and EWS namespaces.
const (
	nsSOAP11      = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12      = "http://www.w3.org/2003/05/soap-envelope"
	nsEWSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
)

// Errors of reading an EWS operation.
var (
	errEWSNotSOAP   = errors.New("not a SOAP envelope")
	errEWSNoOp      = errors.New("no operation in the SOAP body")
	errEWSTooLong   = fmt.Errorf("no operation in the first %d bytes", maxEWSPrefix)
	errEWSNotPOST   = errors.New("not a POST")
	errEWSEncodedIn = errors.New("compressed request body")
)

// ewsSafeOperations are the EWS operations (Exchange 2007-2019 SOAP
// reference) whose responses carry no item body, preview or attachment
// content: identifiers, folders, names, settings and notifications of
// changes. Every other operation, known or not, is refused under a
// transform plan. Among the refused: GetItem, GetAttachment, FindItem
// (previews and properties of items), ExportItems (whole items),
// SyncFolderItems (items), GetConversationItems, FindConversation
// (previews), SearchMailboxes and GetNonIndexableItemDetails (discovery
// previews), GetUserAvailability (meeting details), GetReminders,
// UploadItems and any operation added after this list.
var ewsSafeOperations = map[string]bool{
	// Items: the responses carry item identifiers only.
	"CreateItem": true, "SendItem": true, "DeleteItem": true, "UpdateItem": true,
	"MoveItem": true, "CopyItem": true, "ArchiveItem": true, "MarkAsJunk": true,
	"MarkAllItemsAsRead": true,
	// Attachments: identifiers only.
	"CreateAttachment": true, "DeleteAttachment": true,
	// Folders: names and counts.
	"CreateFolder": true, "CopyFolder": true, "DeleteFolder": true, "EmptyFolder": true,
	"FindFolder": true, "GetFolder": true, "MoveFolder": true, "UpdateFolder": true,
	"SyncFolderHierarchy": true, "CreateFolderPath": true,
	// Notifications: item identifiers of changes.
	"Subscribe": true, "Unsubscribe": true, "GetEvents": true, "GetStreamingEvents": true,
	// Directory and settings.
	"ResolveNames": true, "ExpandDL": true, "ConvertId": true, "GetServerTimeZones": true,
	"GetUserOofSettings": true, "SetUserOofSettings": true, "GetMailTips": true,
	"GetRoomLists": true, "GetRooms": true, "GetUserPhoto": true,
	"GetServiceConfiguration": true, "GetPasswordExpirationDate": true,
}

// ewsOperationAllowed reports whether an EWS operation may pass under a
// transform plan.
func ewsOperationAllowed(op string) bool { return ewsSafeOperations[op] }

// readEWSOperation reads the operation of an EWS request (the first child
// element of soap:Body, in the EWS messages namespace; SOAPAction is
// optional in EWS and not trusted) from at most maxEWSPrefix bytes of its
// body, and puts back what it read so the mail server gets the body whole.
func (p *Proxy) readEWSOperation(w *responseWriter, r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		return "", errEWSNotPOST
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return "", errEWSEncodedIn
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", errEWSNoOp
	}
	if p.cfg.BodyIdleTimeout > 0 {
		// Until forward's body reader takes over, a stalled client is
		// bounded here.
		_ = w.rc.SetReadDeadline(time.Now().Add(p.cfg.BodyIdleTimeout))
	}
	var prefix bytes.Buffer
	op, err := ewsOperation(io.TeeReader(r.Body, &prefix))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix.Bytes()), r.Body), r.Body}
	return op, err
}

// ewsOperation reads XML tokens until the first element inside the SOAP
// Body and returns its local name. The decoder is strict and reads at
// most maxEWSPrefix bytes; a document in another character set than UTF-8
// (no CharsetReader) is refused.
func ewsOperation(r io.Reader) (string, error) {
	lr := &io.LimitedReader{R: r, N: maxEWSPrefix}
	d := xml.NewDecoder(lr)
	depth := 0
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			switch {
			case lr.N <= 0:
				return "", errEWSTooLong
			case err == io.EOF:
				return "", errEWSNoOp
			}
			return "", fmt.Errorf("%w: %w", errEWSNotSOAP, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && !isSOAP(t.Name, "Envelope"):
				return "", fmt.Errorf("%w: root element {%s}%s", errEWSNotSOAP, t.Name.Space, t.Name.Local)
			case depth == 2 && isSOAP(t.Name, "Body"):
				inBody = true
			case depth == 3 && inBody:
				if t.Name.Space != nsEWSMessages {
					return "", fmt.Errorf("%w: {%s}%s is not an EWS operation", errEWSNoOp, t.Name.Space, t.Name.Local)
				}
				return t.Name.Local, nil
			}
		case xml.EndElement:
			if inBody {
				return "", errEWSNoOp // an empty Body
			}
			depth--
		}
	}
}

func isSOAP(n xml.Name, local string) bool {
	return n.Local == local && (n.Space == nsSOAP11 || n.Space == nsSOAP12)
}
