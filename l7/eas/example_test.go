package eas_test

import (
	"fmt"

	"github.com/mailgate/enforcer/l7/eas"
)

// The example query of [MS-ASHTTP] section 2.2.1.1.1.1.
func ExampleParseQuery() {
	q, err := eas.ParseQuery("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l")
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Form, q.Version, q.Command, fmt.Sprintf("0x%04X", q.Locale), q.DeviceID, q.DeviceType, q.HasPolicyKey)
	// Output: base64 14.0 Sync 0x0409 v140Device SmartPhone false
}

func ExampleQuery_EncodeBase64() {
	q := eas.Query{Command: eas.Ping, Version: eas.V161, Locale: 0x0409, DeviceID: "dev1", DeviceType: "iPhone", PolicyKey: 42, HasPolicyKey: true}
	s, err := q.EncodeBase64()
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	back, _ := eas.ParseQuery(s)
	fmt.Println(back.Command, back.DeviceID, back.PolicyKey)
	// Output:
	// oRIJBARkZXYxBCoAAAAGaVBob25l
	// Ping dev1 42
}
