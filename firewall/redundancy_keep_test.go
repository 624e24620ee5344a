package firewall

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isInner is the Keep of these tests: intra-group entries cannot be removed.
func isInner(e *Entry) bool { return e.Code == SGInnerAccept || e.Code == SGInnerDrop }

// keepFlags is AnalyzeOptions.Keep for the entries of p that keep names.
func keepFlags(p *Policy, keep func(*Entry) bool) []bool {
	flags := make([]bool, len(p.Entries))
	for i := range p.Entries {
		flags[i] = keep(&p.Entries[i])
	}
	return flags
}

// TestAnalyzeKeepSystemRule: a user drop that hides a system accept is
// needed (the system rule stays), and a user accept the system rule repeats
// has no effect — without Keep, the analysis would remove the system rule
// with the drop.
func TestAnalyzeKeepSystemRule(t *testing.T) {
	sys := ent(SGRuleAccept, "0.0.0.0/0", "0.0.0.0/0", int(ProtoICMP), 0, 65535)
	sys.R.system = true
	keepSystem := func(e *Entry) bool { return e.R.IsSystem() }
	for _, tt := range []struct {
		name    string
		user    Entry
		without Cause // with Keep nil
		with    Cause
	}{
		{"drop hides the system accept", ent(SGRuleDrop, "0.0.0.0/0", "0.0.0.0/0", int(ProtoICMP), 0, 65535), NoEffect, NotRedundant},
		{"accept repeats the system accept", ent(SGRuleAccept, "0.0.0.0/0", "0.0.0.0/0", int(ProtoICMP), 0, 65535), NotRedundant, NoEffect},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{Dir: Ingress, Fallback: SGDefaultDeny, Entries: []Entry{tt.user, sys}}
			as, err := p.Analyze(U32ToAddr(5), AnalyzeOptions{})
			require.NoError(t, err)
			assert.Equal(t, tt.without, as[0].Cause, "without Keep")
			as, err = p.Analyze(U32ToAddr(5), AnalyzeOptions{Keep: keepFlags(p, keepSystem)})
			require.NoError(t, err)
			assert.Equal(t, tt.with, as[0].Cause, "with Keep")
			assert.Equal(t, NotRedundant, as[1].Cause, "a kept entry is never reported")
			if tt.with == NotRedundant {
				assert.Equal(t, SGRuleDrop, as[0].With)
				assert.Equal(t, SGRuleAccept, as[0].Without)
			}
		})
	}
}

// TestAnalyzeKeepBruteForce: with the intra-group entries kept, they are
// never reported, and the reduced list still decides every packet as the
// policy does.
func TestAnalyzeKeepBruteForce(t *testing.T) {
	runs := 2000
	if testing.Short() || raceEnabled {
		runs = 200
	}
	for seed := range uint64(runs) {
		p := tinyPolicy(seed, 1+int(seed%12), seed%3 == 0)
		local := tinyLocal(uint8(seed % 11))
		as, err := p.Analyze(local, AnalyzeOptions{Keep: keepFlags(p, isInner)})
		require.NoError(t, err)
		keep := keptBy(as)
		for i := range p.Entries {
			if isInner(&p.Entries[i]) && !keep[i] {
				t.Fatalf("seed %d: kept entry %d reported %v", seed, i, as[i].Cause)
			}
		}
		forTiny(p, local, func(tp *Tuple) {
			if got, want := linearDecide(p, keep, tp), linearDecide(p, nil, tp); got.Allows() != want.Allows() {
				t.Fatalf("seed %d %+v: reduced %v, policy %v (%+v)", seed, *tp, got, want, as)
			}
		})
	}
}

// TestAnalyzeKeptAsIs: with KeptAsIs, every entry is redundant or not
// exactly as without it, for random policies and random kept entries.
func TestAnalyzeKeptAsIs(t *testing.T) {
	for seed := range uint64(3000) {
		p := tinyPolicy(seed, 1+int(seed%14), seed%3 == 0)
		local := tinyLocal(uint8(seed % 11))
		keep := randomKeep(seed, len(p.Entries))
		want, err := p.Analyze(local, AnalyzeOptions{Keep: keep})
		require.NoError(t, err)
		got, err := p.Analyze(local, AnalyzeOptions{Keep: keep, KeptAsIs: true})
		require.NoError(t, err)
		for i := range want {
			if got[i].Redundant() != want[i].Redundant() {
				t.Fatalf("seed %d entry %d: KeptAsIs says %v, without %v", seed, i, got[i].Cause, want[i].Cause)
			}
		}
	}
}
