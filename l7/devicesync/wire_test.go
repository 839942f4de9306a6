package devicesync

import (
	"encoding/json"
	"testing"

	"github.com/mailgate/enforcer/l7/device"
)

// TestPolicyDocWireFormat: the policy document keeps its keys and their
// order (revision, updated, then device.Config's), so stored encodings of
// one policy compare equal across versions.
func TestPolicyDocWireFormat(t *testing.T) {
	const doc = `{"revision":"r1","updated":"2024-05-01T10:00:00Z","managed_only":true,"allowed_mail_clients":["Outlook*"],"blocked_mail_clients":["TouchDown*"],"allowed_users":["*@contoso.com"],"blocked_users":["mallory"],"allowed_device_types":["iPhone"],"blocked_device_types":["WindowsMail"],"inactivity_days":30,"block_compromised":true,"block_unencrypted":true,"allowed_models":[{"platform":"Apple","model":"iPhone*"}],"allowed_os":[{"platform":"Apple","min":"16","max":"17.4"}],"require_eas_profile":true,"rules":[{"name":"n","characteristic":"DeviceType","query":"Android*","access":"quarantine"}],"default_access":"block","test_mode":true}`
	var d PolicyDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	if c := d.Config(); c.Revision != "r1" || !c.TestMode || c.Rules[0].Access != device.Quarantine || c.AllowedOS[0].Max != "17.4" {
		t.Errorf("Config() = %+v", c)
	}
	out, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != doc {
		t.Errorf("re-encoded:\n%s\nwant:\n%s", out, doc)
	}
	if out, _ := json.Marshal(&PolicyDoc{Revision: "r0"}); string(out) != `{"revision":"r0"}` {
		t.Errorf("empty policy: %s", out)
	}
}
