//go:build race

package fix

const raceEnabled = true
