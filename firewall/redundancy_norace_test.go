//go:build !race

package firewall

// raceEnabled shortens the redundancy tests under -race.
const raceEnabled = false
