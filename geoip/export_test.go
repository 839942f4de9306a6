package geoip

// ParallelNetworks is what CountryTable reads, with the sources: the
// networks of the parallel walk.
func ParallelNetworks(db *DB) ([]Network, error) {
	return collect(db, func(n Network) Network { return n })
}
