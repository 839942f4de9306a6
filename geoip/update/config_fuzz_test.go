package update

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds arbitrary GeoIP.conf files to the parser: it must
// never panic, and every refusal must be a ConfigError that names the
// file (and a line within it when it names one).
func FuzzLoadConfig(f *testing.F) {
	f.Add(minimalConf)
	f.Add("# comment\nUserId 1\nLicenseKey k\nProductIds GeoLite2-Country GeoLite2-City\n")
	f.Add(minimalConf + "DatabaseDirectory /var/lib/GeoIP\nHost https://updates.maxmind.com\nProxy 127.0.0.1:8888\nProxyUserPassword a:b\nLockFile /tmp/l\nRetryFor 5m\nPreserveFileTimes 1\nParallelism 2\n")
	f.Add("AccountID 42\r\nLicenseKey secret\r\nEditionIDs GeoLite2-Country\r\n")
	f.Add("AccountID\t42  \nLicenseKey  k\nEditionIDs\n")
	dir := f.TempDir()
	path := filepath.Join(dir, "GeoIP.conf")
	noEnv := func(string) (string, bool) { return "", false }
	f.Fuzz(func(t *testing.T, conf string) {
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path, noEnv, Overrides{})
		if err == nil {
			if cfg == nil || cfg.AccountID == 0 || cfg.LicenseKey == "" || len(cfg.EditionIDs) == 0 {
				t.Fatalf("accepted a configuration without credentials or editions: %+v", cfg)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("error %T is not a ConfigError: %v", err, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
		if ce.Line > strings.Count(conf, "\n")+1 {
			t.Fatalf("error names line %d of a %d-line file: %v", ce.Line, strings.Count(conf, "\n")+1, err)
		}
	})
}
