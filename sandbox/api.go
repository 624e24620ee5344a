package sandbox

import (
	"strings"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// Paths of the control API (HTTP/JSON on the run directory's socket).
const (
	PathInfo           = "/v1/info"
	PathRuleAdd        = "/v1/rules/add"
	PathRuleRemove     = "/v1/rules/remove"
	PathGroupJoin      = "/v1/groups/join"
	PathGroupLeave     = "/v1/groups/leave"
	PathProbe          = "/v1/probe"
	PathConntrack      = "/v1/conntrack"
	PathConntrackFlush = "/v1/conntrack/flush"
	PathStats          = "/v1/stats"
	PathAudit          = "/v1/audit"
	PathDown           = "/v1/down"
)

// RuleRequest adds a rule to a group or removes one from it. Rule holds the
// text of the rule's fields by their YAML names (topology.ParseRule parses
// it as the loader parses a file's rule). Actor is who changes it for the
// audit log: "" means "user", or the rule's managed_by when it has one.
type RuleRequest struct {
	Group string            `json:"group"`
	Rule  map[string]string `json:"rule"`
	Actor string            `json:"actor,omitempty"`
}

// RuleResponse says what a rule request changed.
type RuleResponse struct {
	Action  string `json:"action"` // "authorize" or "revoke"
	Group   string `json:"group"`
	Actor   string `json:"actor"`
	Rule    string `json:"rule"`    // the rule as the firewall prints it
	Changed bool   `json:"changed"` // false: an identical rule was already there
}

// GroupRequest makes an instance join or leave a group.
type GroupRequest struct {
	Instance string `json:"instance"`
	Group    string `json:"group"`
	Actor    string `json:"actor,omitempty"` // for the audit log; "" is "user"
}

// GroupResponse lists the instance's groups after the change.
type GroupResponse struct {
	Instance string   `json:"instance"`
	Action   string   `json:"action"` // "join" or "leave"
	Group    string   `json:"group"`
	Groups   []string `json:"security_groups"`
}

// ProbeRequest runs one real probe, as one expect line of `vpclab test`.
// Expect, when set (allow, block or refuse), is the result the caller wants.
type ProbeRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol,omitempty"` // tcp (default), udp or icmp
	Port     int    `json:"port,omitempty"`
	Expect   string `json:"expect,omitempty"`
	// TimeoutMs bounds a probe that meets no drop event (default 2000).
	TimeoutMs int `json:"timeout_ms,omitempty"`
}

// ProbeResponse is the probe's result; Pass is set when Expect was given
// and matched, or when none was given and the probe ran.
type ProbeResponse = topology.Result

// ConntrackEntry is one tracked flow.
type ConntrackEntry struct {
	Protocol string `json:"protocol"`
	A        string `json:"a"` // address:port, the lower endpoint
	B        string `json:"b"`
	// Instances names the instances (or internet hosts) at either end,
	// where an address is one's.
	AName  string `json:"a_name,omitempty"`
	BName  string `json:"b_name,omitempty"`
	State  string `json:"state"`
	IdleS  uint32 `json:"idle_s"`
	IPID   uint16 `json:"ip_id,omitempty"` // fragment entries
	IsFrag bool   `json:"fragment,omitempty"`
}

// ConntrackResponse lists tracked flows (of one instance, when asked), at
// most the limit asked for; Omitted counts the matching entries left out.
type ConntrackResponse struct {
	Instance string                  `json:"instance,omitempty"`
	Entries  []ConntrackEntry        `json:"entries"`
	Omitted  int                     `json:"omitted,omitempty"`
	Stats    firewall.ConntrackStats `json:"stats"`
}

// DefaultConntrackLimit bounds a conntrack listing unless asked otherwise:
// a table holds up to a million entries.
const DefaultConntrackLimit = 10_000

// FlushRequest flushes connection tracking: every entry, or those of one
// instance (entries with its private address at either end).
type FlushRequest struct {
	Instance string `json:"instance,omitempty"`
}

// FlushResponse says how many live entries went.
type FlushResponse struct {
	Instance string `json:"instance,omitempty"`
	Flushed  int    `json:"flushed"`
}

// StatsResponse holds every NIC's counters and the conntrack table's.
type StatsResponse struct {
	NICs      []NICStats              `json:"nics"`
	Conntrack firewall.ConntrackStats `json:"conntrack"`
}

// NICStats are one NIC's counters: frames and bytes each way, drops by
// code, and (for instances) the hits of every entry of its compiled
// policies, including entries that never matched.
type NICStats struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"` // "instance" or "internet_host"
	Address  string            `json:"address"`
	Groups   []string          `json:"security_groups,omitempty"`
	TxFrames uint64            `json:"tx_frames"`
	TxBytes  uint64            `json:"tx_bytes"`
	RxFrames uint64            `json:"rx_frames"`
	RxBytes  uint64            `json:"rx_bytes"`
	Drops    map[string]uint64 `json:"drops"`
	Rules    []RuleHits        `json:"rules,omitempty"`
}

// RuleHits is one entry of a NIC's decision list with how many new flows it
// decided. NICs with the same groups share one compiled policy, and so its
// counters; a change to a group starts them from zero.
type RuleHits struct {
	Direction   string `json:"direction"`
	Group       string `json:"group,omitempty"` // "" for the implicit default
	Rule        int    `json:"rule"`            // index in the group, -1 for intra-group and default entries
	Kind        string `json:"kind"`            // "rule", "system", "inner_accept", "inner_drop" or "default"
	Policy      string `json:"policy"`          // accept or drop
	Priority    int    `json:"priority,omitempty"`
	Description string `json:"description,omitempty"`
	ManagedBy   string `json:"managed_by,omitempty"`
	Text        string `json:"text"`
	Hits        uint64 `json:"hits"`
}

// AuditRecord is one rule change (authorize, revoke) or membership change
// (join, leave: Instance is set, Rule is empty).
type AuditRecord struct {
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	Group       string    `json:"group"`
	Rule        string    `json:"rule,omitempty"`
	Instance    string    `json:"instance,omitempty"`
	Description string    `json:"description,omitempty"`
	// Shard is the shard whose control API received the change, in a
	// sharded VPC (absent: unsharded, or the topology file's rules).
	Shard *int `json:"shard,omitempty"`
}

// APIError is the body of every refused request: the firewall's (or the
// rule parser's) problems with their cloud codes.
type APIError struct {
	Status int          `json:"status"`
	Errors []ErrorEntry `json:"errors"`
}

// ErrorEntry is one problem: a *firewall.Error's fields and its text.
type ErrorEntry struct {
	Code    string `json:"code"`
	Group   string `json:"group,omitempty"`
	Rule    int    `json:"rule,omitempty"`
	NIC     string `json:"nic,omitempty"`
	Field   string `json:"field,omitempty"`
	Value   string `json:"value,omitempty"`
	Allowed string `json:"allowed,omitempty"`
	Message string `json:"message"`
	Text    string `json:"text"` // the whole line, as the CLI prints it
}

func (e *APIError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, x := range e.Errors {
		lines[i] = x.Text
	}
	return strings.Join(lines, "\n")
}
