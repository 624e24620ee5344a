// Package fix rewrites a topology file with fewer security-group rules and
// the same policy: it removes the rules it is told are redundant (the lint
// engine decides which) and merges the rules of a group that differ in one
// range only, and it says what each group saves against
// quotas.rules_per_group.
//
// The rewrite edits the file's text at the byte positions of the YAML
// syntax tree; it never re-serialises, so comments, blank lines, anchors,
// aliases, key order and quoting of everything it does not touch stay as
// they were. A removed rule takes its own lines (block style) or its own
// element and comma (flow style); comments around it stay. A merged rule
// keeps the first rule's text with one value changed. The result is loaded
// again before it is returned: a rewrite that would not load is refused,
// never written.
//
// # Why a merge keeps every verdict
//
// Two rules merge only when they are equal in direction, policy, priority,
// protocol, remote kind (a CIDR, or the same group), local_cidr, nic_type,
// managed_by and in all but one of destination ports, remote CIDR and
// source ports, and when their values in that one field are ranges whose
// union is a range of the same kind: port ranges that overlap or touch,
// CIDRs of which one holds the other or which are the two halves of their
// common parent. The merged rule then matches exactly the packets that
// match either rule (the union of two boxes that differ in one dimension,
// whose intervals union to one interval, is one box).
//
// On a NIC the rules of all its groups form one list sorted by priority,
// drop before accept at equal priority, and the first match decides
// (docs/semantics.md §2.4). Call (priority, policy) a rule's rank. Every
// rule of one rank gives the same verdict, and the rules of one rank are
// contiguous in the list: so the verdict of a packet is the policy of the
// highest rank holding a rule that matches it, whatever the order inside a
// rank. Both rules merged have the same rank, and the merged rule has it
// too and matches the same packets as the two together, so for every rank
// the set of packets some rule of that rank matches is unchanged, and so
// is every verdict, on every NIC the group is on. Only the explanation may
// name a different rule index. Group references are left alone (a merge
// on remote applies to CIDRs only), so membership changes cannot undo it.
//
// # Descriptions
//
// Rules merge only when their descriptions are equal or the second has
// none: the merged rule keeps the first rule's description, and no text a
// user wrote is lost.
//
// # Imported rules
//
// A rule that came from an import (origin set, or a group the file itself
// does not hold) cannot be removed from the user's file: Fix reports it in
// Report.Elsewhere, with the file, line and column of the resource to
// change, and leaves the text alone. Such rules are not merged.
package fix
