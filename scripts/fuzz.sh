#!/usr/bin/env bash
# fuzz.sh GO FUZZTIME PKG:NAME... runs each fuzz target for FUZZTIME.
#
# Go 1.26's fuzzing coordinator has a race at the end of a duration-bound
# run (golang/go#75804, fixed in Go 1.27): on a busy machine it may report
# the -fuzztime deadline itself as a failure, "context deadline exceeded",
# with no failing input. Such a run found nothing, so it is run once more;
# any other failure, or the same again, fails at once. A real finding
# always writes its input ("Failing input written to") or fails on the
# seed corpus, and is never retried.
set -euo pipefail
go=$1 fuzztime=$2
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_race reports whether the run in $log failed only by the race.
deadline_race() {
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -q -e 'Failing input written to' -e 'failure while testing seed corpus' -e '^panic:' "$log"
}

for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	for attempt in 1 2; do
		echo "fuzz $name ($pkg) for $fuzztime"
		if "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$pkg" 2>&1 | tee "$log"; then
			break
		fi
		if [ "$attempt" = 1 ] && deadline_race; then
			echo "fuzz $name: the run ended on Go's fuzztime deadline race (golang/go#75804), not on an input; running it once more"
			continue
		fi
		exit 1
	done
done
