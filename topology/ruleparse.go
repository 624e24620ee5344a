package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

// ruleFieldCodes is the cloud error code of a bad value in each rule field,
// for refusals that come from parsing rather than from the firewall.
var ruleFieldCodes = map[string]string{
	"direction":         firewall.ErrInvalidDirection,
	"policy":            firewall.ErrInvalidPolicy,
	"priority":          firewall.ErrInvalidPriority,
	"protocol":          firewall.ErrInvalidIPProtocol,
	"port_range":        firewall.ErrInvalidPortRange,
	"source_port_range": firewall.ErrInvalidSourcePortRange,
	"source":            firewall.ErrInvalidSourceCIDR,
	"destination":       firewall.ErrInvalidDestCIDR,
	"local_cidr":        firewall.ErrInvalidLocalCIDR,
	"nic_type":          firewall.ErrInvalidNicType,
	"source_group":      firewall.ErrInvalidGroupName,
	"destination_group": firewall.ErrInvalidGroupName,
}

// ParseRule parses one security-group rule given as the text of its fields,
// keyed by their YAML names ({"direction": "ingress", "port_range": "80",
// "protocol": "TCP"}), exactly as the loader parses a rule in a file: the
// same defaults, enums (any case), ranges, characters, and the firewall's
// own port and CIDR parsers. A field that is absent takes its default. The
// rule's group-dependent checks (ranges per protocol, quotas, references)
// are left to the firewall transaction that applies it.
//
// Every problem is returned, joined, as a *firewall.Error with the cloud's
// code, the field, the value and the message and allowed values a file
// would get.
func ParseRule(fields map[string]string) (firewall.Rule, error) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// A flow mapping of JSON strings is YAML; a priority that looks like an
	// integer is written bare, so that it decodes as the file's would.
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		kq, _ := json.Marshal(k)
		v := fields[k]
		vq, _ := json.Marshal(v)
		b.Write(kq)
		b.WriteString(": ")
		if k == "priority" && isInteger(v) {
			b.WriteString(v)
		} else {
			b.Write(vq)
		}
	}
	b.WriteString("}")

	var r Rule
	errs := &errorList{pos: func(string) Position { return Position{1, 1} }}
	root, ok := parse([]byte(b.String()), errs)
	if ok && root != nil {
		d := newDecoder(errs)
		fillDefaults(reflect.ValueOf(&r).Elem())
		d.decode(root, reflect.ValueOf(&r).Elem(), "", nil, 0)
	}
	var out []error
	for _, e := range errs.errs {
		out = append(out, ruleError(e.Path, fields[e.Path], e.Code, e.Msg, e.Allowed))
	}
	if len(out) > 0 {
		return firewall.Rule{}, joinErrors(out)
	}
	// The checks of a rule's direction (validator.securityGroups).
	wrong, wrongGroup, right := "destination", "destination_group", "source"
	if r.Direction == "egress" {
		wrong, wrongGroup, right = "source", "source_group", "destination"
	}
	for _, f := range []string{wrong, wrongGroup} {
		if fields[f] != "" {
			what := right
			if f == wrongGroup {
				what += "_group"
			}
			out = append(out, ruleError(f, fields[f], firewall.ErrConflict,
				fmt.Sprintf("%s is for %s rules; an %s rule names %s", f, other(r.Direction), r.Direction, what),
				right+", "+right+"_group"))
		}
	}
	fr, probs := r.firewall()
	for _, p := range probs {
		if p.warning {
			continue // stored by its network, as Load does
		}
		out = append(out, ruleError(p.field, fields[p.field], p.code, p.msg, p.allowed))
	}
	if len(out) > 0 {
		return firewall.Rule{}, joinErrors(out)
	}
	return fr, nil
}

func ruleError(field, value, code, msg, allowed string) *firewall.Error {
	switch {
	case code != "":
	case strings.Contains(msg, "required field is missing"):
		code = firewall.ErrMissingParameter
	case ruleFieldCodes[field] != "":
		code = ruleFieldCodes[field]
	default:
		code = "InvalidParameter" // ours: a field no rule has
	}
	return &firewall.Error{Code: code, Rule: -1, Field: field, Value: escapeControls(value), Msg: msg, Allowed: allowed}
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
