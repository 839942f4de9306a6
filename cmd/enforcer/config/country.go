package config

import (
	"errors"
	"fmt"
	"strings"
)

// assigned holds the officially assigned ISO 3166-1 alpha-2 codes (249,
// as in Debian's iso-codes), plus XK, the user-assigned code MaxMind and
// DB-IP give Kosovo, and EU, the exceptionally reserved code some
// databases give networks registered to the European Union as a whole.
var assigned = func() map[string]bool {
	m := map[string]bool{"XK": true, "EU": true}
	for _, c := range strings.Fields(`
		AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
		BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
		CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
		DE DJ DK DM DO DZ
		EC EE EG EH ER ES ET
		FI FJ FK FM FO FR
		GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
		HK HM HN HR HT HU
		ID IE IL IM IN IO IQ IR IS IT
		JE JM JO JP
		KE KG KH KI KM KN KP KR KW KY KZ
		LA LB LC LI LK LR LS LT LU LV LY
		MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
		NA NC NE NF NG NI NL NO NP NR NU NZ
		OM
		PA PE PF PG PH PK PL PM PN PR PS PT PW PY
		QA
		RE RO RS RU RW
		SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
		TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
		UA UG UM US UY UZ
		VA VC VE VG VI VN VU
		WF WS
		YE YT
		ZA ZM ZW`) {
		m[c] = true
	}
	return m
}()

// countryProblem says what is wrong with a country code, or "". Codes the
// GeoIP databases never return would silently admit nobody, so a typo
// (UK for GB, an alpha-3 code) is refused rather than kept.
func countryProblem(c string) string {
	const want = "want an ISO 3166-1 alpha-2 code in upper case, e.g. DE"
	upper := strings.ToUpper(c)
	switch {
	case assigned[c]:
		return ""
	case upper == "UK":
		return fmt.Sprintf("%s: the ISO 3166-1 code of the United Kingdom is GB", quote(c))
	case assigned[upper]:
		return fmt.Sprintf("%s: country codes are upper case; write %s", quote(c), upper)
	case len(c) == 2 && upper[0] >= 'A' && upper[0] <= 'Z' && upper[1] >= 'A' && upper[1] <= 'Z':
		return fmt.Sprintf("%s is not an assigned ISO 3166-1 alpha-2 code; `enforcer geoip lookup IP` shows the code of an address", quote(c))
	}
	return fmt.Sprintf("%s is not a country code; %s", quote(c), want)
}

// CheckCountry returns an error saying what is wrong with a country code
// (unassigned, lower case, UK for GB, ...), or nil for an ISO 3166-1
// alpha-2 code a GeoIP database can return. The CLI checks runtime
// additions with the same rules as the file.
func CheckCountry(c string) error {
	if p := countryProblem(c); p != "" {
		return errors.New(p)
	}
	return nil
}
