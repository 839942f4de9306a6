package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// LoadDerived reads the configuration file at path, as Load, and adds the
// services derived from it: proxy.protect_upstream's (DeriveUpstream),
// with the upstream's host name resolved now by LookupHost. It is the
// configuration the daemon enforces; the offline CLI commands read the
// same.
func LoadDerived(ctx context.Context, path string) (*Config, error) {
	cfg, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.DeriveUpstream(ctx, LookupHost); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// lookupTimeout bounds the resolution of proxy.upstream's host name.
const lookupTimeout = 10 * time.Second

// LookupHost resolves a host name with the system resolver, within
// lookupTimeout: a LookupFunc.
func LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
