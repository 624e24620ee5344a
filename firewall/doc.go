// Package firewall is the security-group engine of a VPC, modelled on
// Alibaba Cloud ECS security groups: the configuration (groups, rules,
// NICs, memberships, quotas), its validation with the cloud's error codes,
// the per-packet decision, connection tracking, and the explanations and
// diagnoses shown to users. The behaviour it implements is described step by
// step in docs/semantics.md; the section numbers cited in this package's
// comments ("§2.3") are that document's.
//
// # Configuration
//
// A Firewall holds the state of one VPC. Every change goes through Update,
// which runs a function against a Tx (add or delete groups and rules, attach
// NICs, join and leave groups, change quotas) and applies all of it at once
// or, when anything is wrong, nothing: a refused change returns every
// problem as an *Error carrying the cloud's error code (errors.go lists them,
// marking the ones vpclab adds), the group, rule, NIC and field concerned and
// the allowed values. Convenience methods such as AuthorizeRules wrap Update.
// Every rule change is recorded in the audit log with its time and actor
// (the user, or the service named by the rule's managed_by).
//
// # Compiled policies
//
// After a change, each distinct list of groups used by some NIC is compiled,
// off the data path, into a NICPolicy: for each direction an ordered decision
// list (Policy) of intra-group accept entries, the groups' rules sorted by
// priority with drop before accept on ties, intra-group drop entries, and the
// implicit default. Group references are expanded to the private addresses of
// the member NICs at that moment. The list is compiled into a Matcher, a
// first-match classifier over five-tuples that is checked against the plain
// linear scan (Linear) by randomized and ClassBench tests. The new policy is
// published to each NIC with an atomic pointer swap: the data path takes no
// lock and never sees half a change, and tracked connections survive it.
//
// # The per-packet path
//
// Parse decodes a raw IPv4 packet into a Header without allocating. Decide
// runs the evaluation of §2 on it along a Path (sending NIC, receiving NIC,
// whether it leaves for the internet): platform blocks, the conntrack table
// (Conntrack: bounded, sharded, with a coarse Clock, idle timeouts and TCP
// state), the sender's egress policy, the receiver's ingress policy, and for
// an allowed first packet a new conntrack entry. It returns a Verdict — a
// Code (verdict.go) and the index of the deciding entry — and allocates
// nothing; a verdict becomes words only when someone asks (Explain), so
// explanations cost nothing on packets nobody looks at. Evaluate and
// EvaluateDir give the verdict a new connection would get without touching
// conntrack or the hit counters.
//
// # Explanations and diagnosis
//
// Explain renders a verdict: the step that decided, and the deciding rule
// with its group, index, priority, policy, description and managed_by.
// Diagnose turns a failed Probe into the symptom a user reports (§9), the
// cause and the smallest change that would fix it.
//
// ParseClassBenchRules, ParseClassBenchTrace and RandomTuples read and make
// the ClassBench rule sets and traces the matcher is tested and benchmarked
// on (testdata/classbench holds a 500-rule set).
package firewall
