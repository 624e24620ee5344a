package topology

import (
	"fmt"

	"sort"
	"sync"
)

// Importers turn the configuration users already deploy (Terraform, the
// cloud API's JSON, ROS templates, AWS) into a Fragment of a topology. They
// live in their own packages beside this one (topology/terraform, ...) and
// register themselves, as image decoders do: a program that wants a format
// imports its package (cmd/vpclab imports them all).

// Origin is where an imported entity came from, so that errors, `explain`
// and `test` point back to the user's own file.
type Origin struct {
	File     string `yaml:"file" doc:"The input file, as given (relative to the topology file for imports:)."`
	Line     int    `yaml:"line" topo:"min=1,max=100000000" doc:"1-based line of the resource in that file."`
	Column   int    `yaml:"column" topo:"min=1,max=100000000" doc:"1-based column."`
	Resource string `yaml:"resource" doc:"The resource as the input names it: a Terraform address (alicloud_security_group_rule.ssh[0]), a ROS logical id, an API id (sg-...)."`
}

// IsZero reports whether s names no origin (the entity was written by hand).
func (s Origin) IsZero() bool { return s == Origin{} }

func (s Origin) String() string {
	if s.IsZero() {
		return ""
	}
	at := fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Column)
	if s.Resource == "" {
		return at
	}
	return at + " " + s.Resource
}

// Skipped is something an importer understood but vpclab does not support
// (an IPv6 rule, a port list, ...), left out because the caller asked for
// ImportOptions.SkipUnsupported. Without it the importer returns an error.
type Skipped struct {
	Origin Origin
	What   string // the field or resource, e.g. "ipv6_cidr_ip"
	Why    string // one sentence
}

func (s Skipped) String() string { return fmt.Sprintf("%s: skipped %s: %s", s.Origin, s.What, s.Why) }

// Fragment is what an import produces: the parts of a topology its input
// describes, each entity with its Origin. Names are what users call the
// entities (a Terraform address, a SecurityGroupName/InstanceName, a ROS
// logical id); rules refer to groups by those names. Values the cloud picks
// at creation and the input leaves open are left zero and listed in the
// entity's Assigned, for the merge to assign.
type Fragment struct {
	Format         string
	VPC            VPC // zero when the input has none
	VSwitches      []VSwitch
	SecurityGroups []SecurityGroup
	Instances      []Instance
	NATGateways    []NATGateway
	Skipped        []Skipped
}

// ImportOptions are what an import reads beside its paths.
type ImportOptions struct {
	// Vars are terraform variables (--var k=v, imports[].vars) and ROS
	// parameters (--param k=v, imports[].params). Values are HCL/JSON text
	// for non-string variables ("[1, 2]"), else taken as strings.
	Vars map[string]string
	// VarFiles are terraform .tfvars / .tfvars.json files (--var-file).
	VarFiles []string
	// Env looks up environment variables (TF_VAR_*); nil reads none.
	Env func(string) (string, bool)
	// SkipUnsupported turns "understood but not supported" errors into
	// Fragment.Skipped entries.
	SkipUnsupported bool
}

// Importer reads the inputs at paths (files or directories) and returns
// their fragment, or an Errors holding every problem (each with the input's
// file:line:col, the resource and field, and what to pass to resolve it).
type Importer func(paths []string, opts ImportOptions) (*Fragment, error)

var (
	importersMu sync.RWMutex
	importers   = map[string]Importer{}
)

// RegisterImporter makes an import format available to `vpclab import` and
// to `imports:`. It panics if the format is registered twice (a programming
// error, at init).
func RegisterImporter(format string, imp Importer) {
	importersMu.Lock()
	defer importersMu.Unlock()
	if _, dup := importers[format]; dup {
		panic("topology: importer " + format + " registered twice")
	}
	importers[format] = imp
}

// ImportFormats returns the registered formats, sorted.
func ImportFormats() []string {
	importersMu.RLock()
	defer importersMu.RUnlock()
	out := make([]string, 0, len(importers))
	for f := range importers {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// LookupImporter returns the importer of a format.
func LookupImporter(format string) (Importer, bool) {
	importersMu.RLock()
	defer importersMu.RUnlock()
	imp, ok := importers[format]
	return imp, ok
}
