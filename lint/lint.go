// Package lint finds what is redundant, risky or suspicious in the security
// groups of a loaded topology, or of a running sandbox: for every rule, on
// every NIC it applies to, whether removing it changes any verdict (exactly,
// with the firewall's redundancy analysis), and the rules a cloud user
// usually regrets (open management ports, conflicts, empty references,
// quotas nearly reached, system rules hidden).
package lint

import (
	"cmp"
	"slices"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// Kinds of RuleRef.
const (
	KindRule    = "rule"
	KindRuntime = "runtime"
	KindSystem  = "system"
	KindInner   = "inner"
)

// Finding codes.
const (
	CodeDuplicate            = "DUPLICATE"
	CodeShadowed             = "SHADOWED"
	CodeNoEffect             = "NO_EFFECT"
	CodeCoveredByInnerAccept = "COVERED_BY_INNER_ACCEPT"
	CodeRedundantOnSomeNICs  = "REDUNDANT_ON_SOME_NICS"
	CodeOpenToWorld          = "OPEN_TO_WORLD"
	CodeConflict             = "CONFLICT"
	CodeEmptyReference       = "EMPTY_REFERENCE"
	CodeUnusedGroup          = "UNUSED_GROUP"
	CodeQuotaNear            = "QUOTA_NEAR"
	CodeSystemRuleOutranked  = "SYSTEM_RULE_OUTRANKED"
	CodeNeverMatched         = "NEVER_MATCHED"
)

// Severities, most serious first.
const (
	SeverityError   = "error"   // the policy likely does not do what was meant
	SeverityWarning = "warning" // a rule that can go, or a risk
	SeverityInfo    = "info"    // worth knowing
)

// Options tune Check.
type Options struct {
	// Hits, when set, are the live per-rule hit counters (LiveHits): every
	// rule that some NIC's policy holds and that decided nothing is
	// reported NEVER_MATCHED.
	Hits map[RuleID]uint64
}

// RuleID is a rule as the firewall holds it: its group and its index in
// the group's rules (the system rules first in the default group, a rule
// identical to an earlier one once).
type RuleID struct {
	Group string
	Rule  int
}

// RuleRef names one rule of a group: its index in the group's rules as the
// file lists them, its text and where the file (or the import it came
// from) gives it. Index is -1 for a rule added while the sandbox runs.
type RuleRef struct {
	Group string `json:"group"`
	// Kind is rule (the file's), runtime (added while the sandbox runs),
	// system (the default group's) or inner (intra-group access).
	Kind   string           `json:"kind"`
	Index  int              `json:"index"`
	Text   string           `json:"text"`
	File   string           `json:"file,omitempty"`
	Line   int              `json:"line,omitempty"`
	Column int              `json:"column,omitempty"`
	Origin *topology.Origin `json:"origin,omitempty"`
}

// Finding is one thing lint reports.
type Finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	// File, Line and Column place the finding: the rule, else the group,
	// else the instance.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Group  string `json:"group,omitempty"`
	// Rule is the rule the finding is about; nil for a group or NIC finding.
	Rule *RuleRef `json:"rule,omitempty"`
	// NICs are the instances the finding holds on, when not every one the
	// group is on (REDUNDANT_ON_SOME_NICS, CONFLICT, QUOTA_NEAR of a NIC).
	NICs []string `json:"nics,omitempty"`
	// By are the rules that cover the rule (redundancy) or conflict with it.
	By      []RuleRef `json:"by,omitempty"`
	Message string    `json:"message"`
	Fix     string    `json:"fix"`
}

// Report is the result of linting one topology.
type Report struct {
	File     string    `json:"file"`
	Findings []Finding `json:"findings"`
	// Redundant lists, per group, the indexes (in the file's rules list,
	// ascending) of the rules redundant on every NIC the group is on (for a
	// group without members: within the group alone). It is what lint --fix
	// removes; each was judged against all the others, so a rewriter that
	// removes several must check the result (the later of two duplicates
	// is the one listed).
	Redundant map[string][]int `json:"redundant,omitempty"`

	why map[whyKey]*Why
}

type whyKey struct {
	group string
	index int
}

// sortFindings orders findings by file position, then code.
func sortFindings(fs []Finding) {
	index := func(f *Finding) int {
		if f.Rule == nil {
			return -1
		}
		return f.Rule.Index
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Group, b.Group), cmp.Compare(index(&a), index(&b)), cmp.Compare(a.Code, b.Code))
	})
}

// identity is a rule as the firewall tells identical rules apart
// (docs/semantics.md §1.4): description, managed_by and nic_type aside,
// ports of protocols without ports ignored.
func identity(r firewall.Rule) firewall.Rule {
	r.Description, r.ManagedBy, r.NICType = "", "", ""
	if r.Protocol != firewall.ProtocolTCP && r.Protocol != firewall.ProtocolUDP || r.Ports == (firewall.Ports{}) {
		r.Ports = firewall.AnyPorts
	}
	if r.SourcePorts == (firewall.Ports{}) {
		r.SourcePorts = firewall.AnyPorts
	}
	return r
}
