package device

import "time"

// Decide decides whether the device behind a request may sync: a pure
// function of the request's identity, the device's record (nil when the
// gateway has none), the policy (nil when none is loaded) and the time.
// The steps, first decision wins, are those of the package documentation.
//
// Decide allocates nothing for a compiled policy and values shorter than
// 256 bytes; its cost does not depend on the number of records, and on the
// policy only through the number of wildcard patterns of a list (literal
// entries are looked up in maps).
func Decide(id Identity, rec *Record, p *Policy, now time.Time) Decision {
	if p == nil || !p.loaded {
		if p != nil && p.allowUnloaded {
			return decided(Allow, ReasonNoPolicyAllow, "")
		}
		return decided(Block, ReasonNoPolicyFailClosed, "")
	}
	// An administrator's block or quarantine holds for the device whoever
	// presents it, and test mode does not lift it: it is not a policy
	// being tried out but a decision already taken (a lost phone).
	if rec != nil {
		switch rec.Override {
		case OverrideBlacklist:
			return decided(Block, ReasonOverrideBlacklist, "Override=blacklist")
		case OverrideQuarantine:
			return decided(Quarantine, ReasonOverrideQuarantine, "Override=quarantine")
		}
	}
	d := p.evaluate(&id, rec, now)
	if d.Action != Allow && p.cfg.TestMode {
		d.Action = Allow
		d.TestMode = true
	}
	return d
}

// evaluate runs the steps after the negative overrides.
func (p *Policy) evaluate(id *Identity, rec *Record, now time.Time) Decision {
	var userBuf [foldBufLen]byte
	user := makeUserKey(userBuf[:0], id.User)

	if rec != nil {
		// A record describes the device of one user; a device ID is the
		// client's own claim, so another account presenting it gets
		// neither the record's whitelist nor its compliance.
		if trimSpace(rec.User) != "" {
			var rb [foldBufLen]byte
			if !userMatch(user, makeUserKey(rb[:0], rec.User)) {
				return decided(Block, ReasonUserMismatch, "Record.User")
			}
		}
		if rec.Override == OverrideWhitelist {
			return decided(Allow, ReasonOverrideWhitelist, "Override=whitelist")
		}
	}
	managed := rec != nil && rec.Managed

	// General access, in the reference gateway's order: managed device,
	// mail client, user, EAS device type. Block lists win over allow
	// lists.
	if p.cfg.ManagedOnly && !managed {
		return decided(Block, ReasonUnmanaged, "ManagedOnly")
	}
	var uaBuf [foldBufLen]byte
	ua := fold(uaBuf[:0], id.UserAgent)
	if !p.blockedClients.empty() || !p.allowedClients.empty() {
		product := productToken(ua)
		if r, ok := matchClient(&p.blockedClients, ua, product); ok {
			return decided(Block, ReasonMailClientBlocked, r)
		}
		if !p.allowedClients.empty() {
			if _, ok := matchClient(&p.allowedClients, ua, product); !ok {
				return decided(Block, ReasonMailClientNotAllowed, "AllowedMailClients")
			}
		}
	}
	if r, ok := p.blockedUsers.match(user); ok {
		return decided(Block, ReasonUserBlocked, r)
	}
	if !p.allowedUsers.empty() {
		if _, ok := p.allowedUsers.match(user); !ok {
			return decided(Block, ReasonUserNotAllowed, "AllowedUsers")
		}
	}
	var typeBuf [foldBufLen]byte
	dtype := fold(typeBuf[:0], id.DeviceType)
	if r, ok := p.blockedTypes.match(dtype); ok {
		return decided(Block, ReasonDeviceTypeBlocked, r)
	}
	if !p.allowedTypes.empty() {
		if _, ok := p.allowedTypes.match(dtype); !ok {
			return decided(Block, ReasonDeviceTypeNotAllowed, "AllowedDeviceTypes")
		}
	}

	if managed {
		if d, ok := p.checkManaged(rec, now); ok {
			return d
		}
	}

	if p.hasRules {
		// ABQ characteristics are what the device says over EAS, as
		// Exchange sees them; where the proxy has not seen the device's
		// Settings report, the record's MDM data stands in.
		var modelBuf, osBuf [foldBufLen]byte
		model := fold(modelBuf[:0], id.DeviceModel)
		if len(model) == 0 && rec != nil {
			model = fold(model, rec.Model)
		}
		os := fold(osBuf[:0], id.DeviceOS)
		if len(os) == 0 && rec != nil && trimSpace(rec.Platform) != "" {
			os = fold(os, rec.Platform)
			if trimSpace(rec.OSVersion) != "" {
				os = append(os, ' ')
				os = fold(os, rec.OSVersion)
			}
		}
		vals := [numCharacteristics][]byte{dtype, model, os, ua}
		for lvl := range abqLevels {
			for c := range vals {
				if r, ok := p.abq[lvl][c].match(vals[c]); ok {
					return decided(abqLevels[lvl].action, abqLevels[lvl].reason, r)
				}
			}
		}
	}

	switch p.defAcc {
	case Block:
		return decided(Block, ReasonDefaultBlock, p.defRule)
	case Quarantine:
		return decided(Quarantine, ReasonDefaultQuarantine, p.defRule)
	}
	return decided(Allow, ReasonDefaultAllow, p.defRule)
}

// checkManaged applies the managed-device policies in the reference
// gateway's order: inactivity, compromised, encryption, model, OS, EAS
// profile.
func (p *Policy) checkManaged(rec *Record, now time.Time) (Decision, bool) {
	// Exactly InactivityDays after the last check-in the device is still
	// active; a moment later it is not. A device that never checked in (or
	// whose check-in device management did not report) has shown no
	// activity at all. A check-in in the future (clock skew) is activity.
	if p.inactivity > 0 && (rec.LastCheckIn.IsZero() || now.Sub(rec.LastCheckIn) > p.inactivity) {
		return decided(Block, ReasonInactive, p.inactiveMsg), true
	}
	if p.cfg.BlockCompromised && rec.Compromised == Yes {
		return decided(Block, ReasonCompromised, "BlockCompromised"), true
	}
	if p.cfg.BlockUnencrypted && rec.Encrypted == No {
		return decided(Block, ReasonNotEncrypted, "BlockUnencrypted"), true
	}
	if !p.models.empty() || !p.osRules.empty() {
		var platBuf [foldBufLen]byte
		platform := fold(platBuf[:0], rec.Platform)
		if !p.models.empty() {
			var modelBuf [foldBufLen]byte
			if !p.modelAllowed(platform, fold(modelBuf[:0], rec.Model)) {
				return decided(Block, ReasonModelNotAllowed, "AllowedModels"), true
			}
		}
		if !p.osRules.empty() {
			if r := p.osAllowed(platform, rec.OSVersion); r != "" {
				return decided(Block, r, "AllowedOS"), true
			}
		}
	}
	if p.cfg.RequireEASProfile && !rec.EASProfile {
		return decided(Block, ReasonNoEASProfile, "RequireEASProfile"), true
	}
	return Decision{}, false
}

func (p *Policy) modelAllowed(platform, model []byte) bool {
	if m, ok := p.models.exact[string(platform)]; ok {
		if _, ok := m.match(model); ok {
			return true
		}
	}
	for i := range p.models.globs {
		g := &p.models.globs[i]
		if g.match(platform) {
			if _, ok := g.v.match(model); ok {
				return true
			}
		}
	}
	return false
}

// osAllowed returns "" when some AllowedOS entry of the platform admits
// the version, else the reason for blocking. A version that does not parse
// satisfies only entries without bounds: the gateway cannot tell whether
// it is within them, and fails closed.
func (p *Policy) osAllowed(platform []byte, version string) Reason {
	v, parsed := parseOSVersion(version)
	matched, unknown := false, false
	check := func(rs []osRange) bool {
		matched = true
		for i := range rs {
			r := &rs[i]
			if r.min.IsZero() && r.max.IsZero() {
				return true
			}
			if !parsed {
				unknown = true
				continue
			}
			if (r.min.IsZero() || v.AtLeast(r.min)) && (r.max.IsZero() || v.AtMost(r.max)) {
				return true
			}
		}
		return false
	}
	if rs, ok := p.osRules.exact[string(platform)]; ok && check(*rs) {
		return ""
	}
	for i := range p.osRules.globs {
		g := &p.osRules.globs[i]
		if g.match(platform) && check(*g.v) {
			return ""
		}
	}
	switch {
	case !matched:
		return ReasonOSNotAllowed
	case unknown:
		return ReasonOSVersionUnknown
	}
	return ReasonOSNotAllowed
}

// matchClient matches a mail client list against the whole User-Agent,
// then its product name.
func matchClient(m *matcher, ua, product []byte) (string, bool) {
	if r, ok := m.match(ua); ok {
		return r, true
	}
	if len(product) != len(ua) {
		return m.match(product)
	}
	return "", false
}
