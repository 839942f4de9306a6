package eas

import (
	"strings"
	"testing"
)

func TestCommandCodes(t *testing.T) {
	// [MS-ASHTTP] section 2.2.1.1.1.1.2, plus the legacy codes 5..8.
	tests := []struct {
		code   uint8
		name   string
		legacy bool
	}{
		{0, "Sync", false}, {1, "SendMail", false}, {2, "SmartForward", false},
		{3, "SmartReply", false}, {4, "GetAttachment", false},
		{5, "GetHierarchy", true}, {6, "CreateCollection", true},
		{7, "DeleteCollection", true}, {8, "MoveCollection", true},
		{9, "FolderSync", false}, {10, "FolderCreate", false},
		{11, "FolderDelete", false}, {12, "FolderUpdate", false},
		{13, "MoveItems", false}, {14, "GetItemEstimate", false},
		{15, "MeetingResponse", false}, {16, "Search", false},
		{17, "Settings", false}, {18, "Ping", false}, {19, "ItemOperations", false},
		{20, "Provision", false}, {21, "ResolveRecipients", false},
		{22, "ValidateCert", false}, {23, "Find", false},
	}
	if len(tests) != NumCommands || len(Commands()) != NumCommands {
		t.Fatalf("table has %d commands, package %d", len(tests), NumCommands)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Command(tc.code)
			if !c.Known() || c.String() != tc.name || c.Code() != tc.code || c.Legacy() != tc.legacy {
				t.Errorf("Command(%d): known %v, name %q, code %d, legacy %v", tc.code, c.Known(), c, c.Code(), c.Legacy())
			}
			for _, spelling := range []string{tc.name, strings.ToLower(tc.name), strings.ToUpper(tc.name)} {
				if got, ok := ParseCommand(spelling); !ok || got != c {
					t.Errorf("ParseCommand(%q) = %v, %v", spelling, got, ok)
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	c := Command(24)
	if c.Known() || c.String() != "Command(24)" {
		t.Errorf("Command(24): known %v, String %q", c.Known(), c)
	}
	for _, name := range []string{"", "Autodiscover", "Sync2", "Options"} {
		if _, ok := ParseCommand(name); ok {
			t.Errorf("ParseCommand(%q) succeeded", name)
		}
	}
}
