//go:build !race

package topology

// exposeUnderRace reports that the race detector is on.
const exposeUnderRace = false
