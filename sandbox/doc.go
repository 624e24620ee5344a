// Package sandbox steers and watches a running VPC from outside its process:
// a run directory per sandbox ($XDG_RUNTIME_DIR/vpclab/NAME/), a control API
// served as HTTP/JSON on a Unix socket in it that only the sandbox's owner
// can reach (the socket is 0600 in a 0700 directory, and the server checks
// the peer's uid with SO_PEERCRED), and the client the CLI's verbs use.
//
// Through the API a user changes security-group rules and memberships while
// traffic flows (a change applies to the next new connection; tracked ones
// keep working until flushed), runs a real probe, lists and flushes
// connection tracking, reads per-NIC and per-rule counters and the audit log,
// and shuts the sandbox down. A refused change returns the firewall's
// *firewall.Error codes and messages, and changes nothing.
package sandbox
