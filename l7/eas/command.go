package eas

import (
	"fmt"
	"strings"
)

// Command is an ActiveSync command, numbered by its code in the base64 query
// ([MS-ASHTTP] section 2.2.1.1.1.1.2).
type Command uint8

// Commands and their codes.
const (
	Sync              Command = 0
	SendMail          Command = 1
	SmartForward      Command = 2
	SmartReply        Command = 3
	GetAttachment     Command = 4
	GetHierarchy      Command = 5 // legacy, see commandNames
	CreateCollection  Command = 6 // legacy
	DeleteCollection  Command = 7 // legacy
	MoveCollection    Command = 8 // legacy
	FolderSync        Command = 9
	FolderCreate      Command = 10
	FolderDelete      Command = 11
	FolderUpdate      Command = 12
	MoveItems         Command = 13
	GetItemEstimate   Command = 14
	MeetingResponse   Command = 15
	Search            Command = 16
	Settings          Command = 17
	Ping              Command = 18
	ItemOperations    Command = 19
	Provision         Command = 20
	ResolveRecipients Command = 21
	ValidateCert      Command = 22
	Find              Command = 23 // protocol 16.1
)

// commandNames indexes names by code. Codes 5..8 are absent from the
// current command table; they belong to commands of protocol 2.x
// (GetHierarchy lasted to 12.1, [MS-ASCMD] 2.2.1.8), whose names servers
// still list in this order in MS-ASProtocolCommands ([MS-ASHTTP] 4.2), so
// old clients' requests stay identifiable.
var commandNames = [...]string{
	"Sync", "SendMail", "SmartForward", "SmartReply", "GetAttachment",
	"GetHierarchy", "CreateCollection", "DeleteCollection", "MoveCollection",
	"FolderSync", "FolderCreate", "FolderDelete", "FolderUpdate", "MoveItems",
	"GetItemEstimate", "MeetingResponse", "Search", "Settings", "Ping",
	"ItemOperations", "Provision", "ResolveRecipients", "ValidateCert", "Find",
}

// NumCommands is the number of command codes (0..23).
const NumCommands = len(commandNames)

// Known reports whether c is a defined command code.
func (c Command) Known() bool { return int(c) < NumCommands }

// Legacy reports whether c is one of the protocol 2.x commands (codes 5..8)
// that the current specification no longer lists.
func (c Command) Legacy() bool { return c >= GetHierarchy && c <= MoveCollection }

// Code returns the command code of the base64 query.
func (c Command) Code() uint8 { return uint8(c) }

// String returns the command name as the plain query spells it ("Sync"), or
// "Command(99)" for an undefined code.
func (c Command) String() string {
	if c.Known() {
		return commandNames[c]
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// ParseCommand returns the command with the given name, ignoring case as
// IIS does.
func ParseCommand(name string) (Command, bool) {
	for i, n := range commandNames {
		if strings.EqualFold(n, name) {
			return Command(i), true
		}
	}
	return 0, false
}

// Commands returns every defined command in code order.
func Commands() []Command {
	out := make([]Command, NumCommands)
	for i := range out {
		out[i] = Command(i)
	}
	return out
}
