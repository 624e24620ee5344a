//go:build race

package topology

// exposeUnderRace reports that the race detector is on: it makes each
// proxied connection about fifteen times as expensive, so the tests with
// many connections open fewer.
const exposeUnderRace = true
