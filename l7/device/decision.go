package device

import (
	"fmt"
	"log/slog"
)

// Action is what the gateway does with a device's request. The zero Action
// is unset: it is not a decision, and [Decision.Allowed] is false for it, so
// a forgotten Decision never lets a request through.
type Action uint8

// Actions, as Exchange's Allow/Block/Quarantine lists name them.
const (
	// Allow lets the request through to the mail server.
	Allow Action = iota + 1
	// Block refuses the request.
	Block
	// Quarantine refuses the request while the device awaits an
	// administrator's decision. Exchange lets a quarantined device connect
	// only to learn that it is quarantined; the proxy chooses the response.
	Quarantine
)

var actionNames = [...]string{"", "allow", "block", "quarantine"}

// String returns "allow", "block" or "quarantine"; "" for the zero Action.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Valid reports whether a is Allow, Block or Quarantine.
func (a Action) Valid() bool { return a >= Allow && a <= Quarantine }

// ParseAction reads an action name, ignoring case.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if i > 0 && equalFoldTrim(s, n) {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("action %q: want allow, block or quarantine: %w", s, ErrInvalidValue)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; "" leaves the zero
// Action.
func (a *Action) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = 0
		return nil
	}
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Decision is the outcome of [Decide] for one request.
type Decision struct {
	// Action is what the gateway must do: Allow, Block or Quarantine. In
	// test mode it is Allow even where the policy said otherwise.
	Action Action
	// Intended is what the policy decided before test mode; equal to
	// Action unless TestMode is set.
	Intended Action
	// Reason is the stable code of the step that decided.
	Reason Reason
	// Rule names the policy entry that decided, for logs and diagnostics:
	// a list entry ("BlockedUsers=jane@contoso.com"), an ABQ rule, a
	// setting ("InactivityDays=30") or a record field ("Override=whitelist").
	// Empty where no single entry is responsible.
	Rule string
	// TestMode is set when the policy would have blocked or quarantined
	// the request and test mode let it through instead.
	TestMode bool
}

// Allowed reports whether the request may go on to the mail server.
func (d Decision) Allowed() bool { return d.Action == Allow }

// LogValue implements slog.LogValuer: a group of action, reason, rule and,
// in test mode, the intended action.
func (d Decision) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("action", d.Action.String()), slog.String("reason", string(d.Reason)))
	if d.Rule != "" {
		attrs = append(attrs, slog.String("rule", d.Rule))
	}
	if d.TestMode {
		attrs = append(attrs, slog.Bool("test_mode", true), slog.String("intended", d.Intended.String()))
	}
	return slog.GroupValue(attrs...)
}

func decided(a Action, r Reason, rule string) Decision {
	return Decision{Action: a, Intended: a, Reason: r, Rule: rule}
}
