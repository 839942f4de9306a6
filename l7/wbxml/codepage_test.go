package wbxml

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEveryCodePageDefined(t *testing.T) {
	namespaces := map[string]uint8{}
	for p := range uint8(NumPages) {
		t.Run(PageName(p), func(t *testing.T) {
			ns := PageName(p)
			if strings.HasPrefix(ns, "0x") {
				t.Fatalf("page %d has no namespace", p)
			}
			if other, dup := namespaces[ns]; dup {
				t.Fatalf("namespace %q on pages %d and %d", ns, other, p)
			}
			namespaces[ns] = p
			if got, ok := PageByName(ns); !ok || got != p {
				t.Errorf("PageByName(%q) = %d, %v; want %d", ns, got, ok, p)
			}
			tags := Tags(p)
			if len(tags) == 0 {
				t.Fatalf("page %d (%s) has no tags", p, ns)
			}
			locals := map[string]bool{}
			for _, ti := range tags {
				if ti.Page != p {
					t.Errorf("%s: page %d in table of page %d", ti.Name, ti.Page, p)
				}
				if ti.Token < MinToken || ti.Token > MaxToken {
					t.Errorf("%s: token 0x%02X outside 0x05..0x3F", ti.Name, ti.Token)
				}
				local, ok := strings.CutPrefix(ti.Name, ns+":")
				if !ok || local == "" || strings.Contains(local, ":") {
					t.Errorf("name %q is not %s:<local>", ti.Name, ns)
				}
				if locals[local] {
					t.Errorf("local name %q twice on page %s", local, ns)
				}
				locals[local] = true
				got, ok := LookupTag(ti.Name)
				if !ok || got != ti.Tag {
					t.Errorf("LookupTag(%q) = %v, %v; want %v", ti.Name, got, ok, ti.Tag)
				}
				if got := ti.Tag.Name(); got != ti.Name {
					t.Errorf("Tag%v.Name() = %q, want %q", ti.Tag, got, ti.Name)
				}
			}
		})
	}
	if got := Tags(NumPages); got != nil {
		t.Errorf("Tags(%d) = %v, want nil", NumPages, got)
	}
}

// TestTagSpotChecks pins tokens against [MS-ASWBXML] section 2.1.2.1,
// favouring those added in protocol 14.x and 16.x.
func TestTagSpotChecks(t *testing.T) {
	tests := []struct {
		name  string
		page  uint8
		token uint8
	}{
		{"AirSync:Sync", 0, 0x05},
		{"AirSync:HeartbeatInterval", 0, 0x29},
		{"Contacts:WeightedRank", 1, 0x3E},
		{"Email:MessageClass", 2, 0x13},
		{"Email:DisallowNewTimeProposal", 2, 0x3F},
		{"AirNotify:DeviceFriendlyName", 3, 0x17},
		{"Calendar:ClientUid", 4, 0x3C},
		{"Move:DstMsgId", 5, 0x0C},
		{"GetItemEstimate:Estimate", 6, 0x0C},
		{"FolderHierarchy:FolderSync", 7, 0x16},
		{"FolderHierarchy:Status", 7, 0x0C},
		{"MeetingResponse:SendResponse", 8, 0x12},
		{"Tasks:FirstDayOfWeek", 9, 0x26},
		{"ResolveRecipients:MaxPictures", 10, 0x1D},
		{"ValidateCert:Status", 11, 0x0A},
		{"Contacts2:MMS", 12, 0x0E},
		{"Ping:MaxFolders", 13, 0x0D},
		{"Provision:AccountOnlyRemoteWipe", 14, 0x3B},
		{"Search:MaxPictures", 15, 0x23},
		{"GAL:Data", 16, 0x12},
		{"AirSyncBase:Body", 17, 0x0A},
		{"AirSyncBase:Add", 17, 0x1C},
		{"AirSyncBase:Delete", 17, 0x1D},
		{"AirSyncBase:Location", 17, 0x20},
		{"AirSyncBase:InstanceId", 17, 0x2D},
		{"Settings:RightsManagementInformation", 18, 0x2B},
		{"DocumentLibrary:ContentType", 19, 0x0C},
		{"ItemOperations:Fetch", 20, 0x06},
		{"ItemOperations:MoveAlways", 20, 0x19},
		{"ComposeMail:Forwardees", 21, 0x15},
		{"ComposeMail:Email", 21, 0x18},
		{"Email2:IsDraft", 22, 0x15},
		{"Email2:Send", 22, 0x17},
		{"Notes:Category", 23, 0x09},
		{"RightsManagement:RemoveRightsManagementProtection", 24, 0x18},
		{"Find:MailBoxSearchCriterion", 25, 0x08},
		{"Find:Picture", 25, 0x22},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := LookupTag(tc.name)
			if want := (Tag{Page: tc.page, Token: tc.token}); !ok || got != want {
				t.Errorf("LookupTag(%q) = %v, %v; want %v", tc.name, got, ok, want)
			}
		})
	}
}

func TestLookupTagForms(t *testing.T) {
	tests := []struct {
		name     string
		want     Tag
		ok       bool
		wantName string // Name() of the result, when ok
	}{
		{"AirSync:Sync", Tag{0, 0x05}, true, "AirSync:Sync"},
		{"AirSync:0x05", Tag{0, 0x05}, true, "AirSync:Sync"},
		{"AirSync:0x3A", Tag{0, 0x3A}, true, "AirSync:0x3A"},
		{"airsync:0x3a", Tag{}, false, ""},
		{"AirSync:0x3a", Tag{0, 0x3A}, true, "AirSync:0x3A"},
		{"0x1A:0x05", Tag{26, 0x05}, true, "0x1A:0x05"},
		{"0xFF:0x3F", Tag{255, 0x3F}, true, "0xFF:0x3F"},
		{"0x11:0x0A", Tag{17, 0x0A}, true, "AirSyncBase:Body"},
		{"AirSync", Tag{}, false, ""},
		{"Nope:Sync", Tag{}, false, ""},
		{"AirSync:Nope", Tag{}, false, ""},
		{"AirSync:0x04", Tag{}, false, ""},
		{"AirSync:0x40", Tag{}, false, ""},
		{"AirSync:0x5", Tag{}, false, ""},
		{"0x1A:Sync", Tag{}, false, ""},
		{"", Tag{}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := LookupTag(tc.name)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("LookupTag(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
			}
			if ok && got.Name() != tc.wantName {
				t.Errorf("Name() = %q, want %q", got.Name(), tc.wantName)
			}
		})
	}
}

func TestLegacyTokensMarked(t *testing.T) {
	var got []string
	for p := range uint8(NumPages) {
		for _, ti := range Tags(p) {
			if ti.Legacy {
				got = append(got, ti.Name)
			}
		}
	}
	// Pinned so that a change to the table is a deliberate one.
	want := []string{
		"AirSync:RTFTruncation", "AirSync:NotifyGUID", "Contacts:CompressedRTF",
		"Email:AttRemoved",
		"AirNotify:Notify", "AirNotify:Notification", "AirNotify:Version",
		"AirNotify:LifeTime", "AirNotify:DeviceInfo", "AirNotify:Enable",
		"AirNotify:Folder", "AirNotify:ServerId", "AirNotify:DeviceAddress",
		"AirNotify:ValidCarrierProfiles", "AirNotify:CarrierProfile",
		"AirNotify:Status", "AirNotify:Responses", "AirNotify:Devices",
		"AirNotify:Device", "AirNotify:Id", "AirNotify:Expiry",
		"AirNotify:NotifyGUID", "AirNotify:DeviceFriendlyName",
		"Calendar:CompressedRTF", "GetItemEstimate:Version",
		"GetItemEstimate:DateTime", "FolderHierarchy:Response",
		"FolderHierarchy:ContentClass", "FolderHierarchy:Version",
		"MeetingResponse:Version", "Tasks:CompressedRTF", "Ping:AutdState",
		"Provision:DocumentBrowseEnabled", "Search:Schema",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legacy tokens (-want +got):\n%s", diff)
	}
}

func TestMustTagPanicsOnUnknownName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustTag(\"AirSync:Nope\") did not panic")
		}
	}()
	MustTag("AirSync:Nope")
}
