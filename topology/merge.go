package topology

// Merging imports (imports:). Each import runs its format's Importer on a
// path relative to the topology file, and its Fragment is appended to the
// file's own lists: vswitches, security groups, instances, NAT gateways. The
// merged topology is then validated as one file, by the same checks, with
// every error on an imported entity placed at the entity's origin in the
// input file. The input is read afresh on every Load.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// mergeImports runs the file's imports and merges what they give into t:
// it fills the imported entities' defaults and checks their fields as the
// decoder checks the file's, gives imported instances without services a
// catch-all listener, resolves short names of imported entities (aliases)
// in the file's references, and assigns the EIPs listed in assigned. It
// returns false when an import failed: reference checks would then report
// every name the failed import defines, so they wait until it loads.
func mergeImports(t *Topology, errs *errorList) bool {
	user := [numKinds]int{kindGroup: len(t.SecurityGroups), kindEndpoint: len(t.Instances),
		kindVSwitch: len(t.VSwitches), kindNAT: len(t.NATGateways)}
	ok := true
	vpcFrom := "" // where the VPC was given: "" (nowhere or the file) or an import's place
	for i := range t.Imports {
		errs.seen(t.importPath(t.Imports[i].Path)) // errors sort in import order
		frag, good := runImport(t, i, errs)
		if !good {
			ok = false
			continue
		}
		t.merge(i, frag, &vpcFrom, errs)
	}
	if !ok {
		return false
	}
	t.resolveAliases(user, errs)
	assignEIPs(t, errs)
	return true
}

// importPath resolves a path of an import against the topology file's
// directory.
func (t *Topology) importPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(t.File), p)
}

// runImport runs imports[i], reporting a failure at the import (unknown
// format, options of another format, an input that cannot be read) or the
// importer's own errors in the input file.
func runImport(t *Topology, i int, errs *errorList) (*Fragment, bool) {
	im := &t.Imports[i]
	p := fmt.Sprintf("imports[%d]", i)
	if im.Format == "" || im.Path == "" {
		return nil, false // reported by the decoder
	}
	for q := range errs.paths {
		if strings.HasPrefix(q, p+".") || q == p {
			return nil, false // an option the decoder refused: run it with none rather than a part
		}
	}
	imp, found := LookupImporter(im.Format)
	if !found {
		formats := ImportFormats()
		msg := fmt.Sprintf("unknown import format %q", im.Format)
		if sg := suggest(im.Format, formats); sg != "" {
			msg += fmt.Sprintf(", did you mean %q?", sg)
		}
		allowed := strings.Join(formats, ", ")
		if len(formats) == 0 {
			allowed = "none: this program registers no importer"
		}
		errs.add(p+".format", "", msg, allowed)
		return nil, false
	}
	good := true
	switch {
	case len(im.Params) > 0 && im.Format != "ros":
		errs.add(p+".params", "", fmt.Sprintf("params are ROS template parameters; a %s import takes none", im.Format), "ros")
		good = false
	case (len(im.Vars) > 0 || len(im.VarFiles) > 0) && (im.Format == "ros" || im.Format == "aliyun"):
		field, what := "vars", "variables"
		if len(im.Vars) == 0 {
			field, what = "var_files", "variable files"
		}
		msg := fmt.Sprintf("%s are Terraform %s; a %s import takes none", field, what, im.Format)
		if im.Format == "ros" {
			msg += " (ROS templates take params)"
		}
		errs.add(p+"."+field, "", msg, "terraform, aws")
		good = false
	}
	if !good {
		return nil, false
	}
	// The services imported instances get: checked here, once, at their
	// place in the file (a catch-all without protocol gets Protocol "").
	before := len(errs.errs)
	(&validator{t: t, errs: errs}).services(p, im.Services)
	if len(errs.errs) > before {
		return nil, false
	}
	opts := ImportOptions{Env: os.LookupEnv, SkipUnsupported: im.SkipUnsupported}
	if len(im.Vars)+len(im.Params) > 0 {
		opts.Vars = make(map[string]string, len(im.Vars)+len(im.Params))
		for k, v := range im.Vars {
			opts.Vars[k] = v
		}
		for k, v := range im.Params {
			opts.Vars[k] = v
		}
	}
	for _, f := range im.VarFiles {
		opts.VarFiles = append(opts.VarFiles, t.importPath(f))
	}
	path := t.importPath(im.Path)
	frag, err := callImporter(imp, path, opts)
	if err != nil {
		var list Errors
		if errors.As(err, &list) && len(list) > 0 {
			for _, e := range list {
				if e == nil {
					continue
				}
				if e.File == "" {
					e = &Error{File: path, Line: e.Line, Column: e.Column, Path: e.Path, Entity: e.Entity, Code: e.Code, Msg: e.Msg, Allowed: e.Allowed}
				}
				errs.addForeign(e)
			}
			return nil, false
		}
		errs.add(p+".path", "", fmt.Sprintf("%s import of %s failed: %v", im.Format, path, err), "")
		return nil, false
	}
	if frag == nil {
		errs.add(p+".path", "", fmt.Sprintf("%s import of %s returned nothing", im.Format, path), "")
		return nil, false
	}
	for _, s := range frag.Skipped {
		file := s.Origin.File
		if file == "" {
			file = path
		}
		msg := "skipped " + s.What
		if s.Origin.Resource != "" {
			msg += " of " + s.Origin.Resource
		}
		if s.Why != "" {
			msg += ": " + s.Why
		}
		errs.warns = append(errs.warns, &Warning{File: escapeControls(file), Line: max(s.Origin.Line, 1), Column: max(s.Origin.Column, 1),
			Path: p, Msg: escapeControls(msg)})
	}
	return frag, true
}

// callImporter runs an importer, turning a panic into an error: an input
// must never take the program down.
func callImporter(imp Importer, path string, opts ImportOptions) (frag *Fragment, err error) {
	defer func() {
		if r := recover(); r != nil {
			frag, err = nil, fmt.Errorf("the importer panicked: %v", r)
		}
	}()
	return imp([]string{path}, opts)
}

// merge appends a fragment to t, recording each entity's origin.
func (t *Topology) merge(i int, frag *Fragment, vpcFrom *string, errs *errorList) {
	if t.origins == nil {
		t.origins = map[string]Origin{}
	}
	path := t.importPath(t.Imports[i].Path)
	origin := func(o Origin, name string) Origin {
		if o.IsZero() { // an importer that gives none: the input as a whole
			return Origin{File: path, Line: 1, Column: 1, Resource: name}
		}
		if o.File == "" {
			o.File = path
		}
		return o
	}
	if v := frag.VPC; (v.CIDR.IsValid() || v.Name != "") && !errs.paths["vpc.cidr"] && !errs.paths["vpc.name"] {
		o := origin(v.Origin, v.Name)
		v.Origin = withFile(v.Origin, path)
		switch {
		case !t.VPC.CIDR.IsValid() && t.VPC.Name == "" && !t.has("vpc"):
			t.VPC = v
			t.origins["vpc"] = o
			*vpcFrom = placeOf(o)
			t.checkImported(reflect.ValueOf(&t.VPC).Elem(), "vpc", errs)
		case t.VPC.CIDR == v.CIDR && (t.VPC.Name == v.Name || t.VPC.Name == "" || v.Name == ""):
			if t.VPC.Name == "" {
				t.VPC.Name = v.Name
			}
		default:
			first := *vpcFrom
			if first == "" {
				p := t.Pos("vpc")
				first = fmt.Sprintf("%s:%d:%d", t.File, p.Line, p.Column)
			}
			errs.addIn(o.File, Position{max(o.Line, 1), max(o.Column, 1)}, "vpc", "",
				fmt.Sprintf("the VPC %s differs from the VPC %s given at %s; a topology has one VPC (from %s)",
					describeVPC(v), describeVPC(t.VPC), first, o.Resource), "")
		}
	}
	for _, vs := range frag.VSwitches {
		p := fmt.Sprintf("vswitches[%d]", len(t.VSwitches))
		t.origins[p] = origin(vs.Origin, vs.Name)
		vs.Origin = withFile(vs.Origin, path)
		t.VSwitches = append(t.VSwitches, vs)
		t.checkImported(reflect.ValueOf(&t.VSwitches[len(t.VSwitches)-1]).Elem(), p, errs)
	}
	for _, g := range frag.SecurityGroups {
		p := fmt.Sprintf("security_groups[%d]", len(t.SecurityGroups))
		t.origins[p] = origin(g.Origin, g.Name)
		g.Origin = withFile(g.Origin, path)
		g.Rules = slices.Clone(g.Rules)
		for j := range g.Rules {
			if o := g.Rules[j].Origin; !o.IsZero() {
				t.origins[fmt.Sprintf("%s.rules[%d]", p, j)] = origin(o, "")
				g.Rules[j].Origin = withFile(o, path)
			}
		}
		t.SecurityGroups = append(t.SecurityGroups, g)
		t.checkImported(reflect.ValueOf(&t.SecurityGroups[len(t.SecurityGroups)-1]).Elem(), p, errs)
	}
	for _, in := range frag.Instances {
		p := fmt.Sprintf("instances[%d]", len(t.Instances))
		t.origins[p] = origin(in.Origin, in.Name)
		in.Origin = withFile(in.Origin, path)
		in.SecurityGroups = slices.Clone(in.SecurityGroups)
		in.Assigned = slices.Clone(in.Assigned)
		in.Services = slices.Clone(in.Services)
		t.Instances = append(t.Instances, in)
		added := &t.Instances[len(t.Instances)-1]
		t.checkImported(reflect.ValueOf(added).Elem(), p, errs)
		if len(added.Services) == 0 {
			// A cloud configuration does not say what runs on an
			// instance: unless the file says otherwise it answers on
			// every port, so that the security groups alone decide
			// allow and block.
			added.Services = []Service{{Kind: "echo", Port: AllPorts}}
			if t.has(fmt.Sprintf("imports[%d].services", i)) {
				added.Services = slices.Clone(t.Imports[i].Services)
			}
		}
	}
	for _, n := range frag.NATGateways {
		p := fmt.Sprintf("nat_gateways[%d]", len(t.NATGateways))
		t.origins[p] = origin(n.Origin, n.Name)
		n.Origin = withFile(n.Origin, path)
		n.SNAT = slices.Clone(n.SNAT)
		n.DNAT = slices.Clone(n.DNAT)
		n.Assigned = slices.Clone(n.Assigned)
		for j := range n.DNAT {
			if o := n.DNAT[j].Origin; !o.IsZero() {
				t.origins[fmt.Sprintf("%s.dnat[%d]", p, j)] = origin(o, "")
				n.DNAT[j].Origin = withFile(o, path)
			}
		}
		t.NATGateways = append(t.NATGateways, n)
		t.checkImported(reflect.ValueOf(&t.NATGateways[len(t.NATGateways)-1]).Elem(), p, errs)
	}
}

// withFile fills the file of a non-zero origin that lacks one with the
// import's path.
func withFile(o Origin, path string) Origin {
	if !o.IsZero() && o.File == "" {
		o.File = path
	}
	return o
}

func describeVPC(v VPC) string {
	if v.Name == "" {
		return v.CIDR.String()
	}
	return fmt.Sprintf("%s (%s)", v.Name, v.CIDR)
}

// placeOf is an origin as file:line:col.
func placeOf(o Origin) string {
	return fmt.Sprintf("%s:%d:%d", o.File, max(o.Line, 1), max(o.Column, 1))
}

// originOf returns the origin of the imported entity a field path lies in:
// the rule or DNAT entry itself when its importer gave one, else its group,
// instance, vswitch, NAT gateway or the VPC.
func (t *Topology) originOf(path string) (Origin, bool) {
	if len(t.origins) == 0 {
		return Origin{}, false
	}
	for {
		if o, ok := t.origins[path]; ok {
			return o, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return Origin{}, false
		}
		path = path[:i]
	}
}

// place is where the entity at path is defined, as file:line:col: its
// origin when it was imported, else its position in the file.
func (t *Topology) place(path string) string {
	if o, ok := t.originOf(path); ok {
		return placeOf(o)
	}
	p := t.Pos(path)
	return fmt.Sprintf("%s:%d:%d", t.File, p.Line, p.Column)
}

// requireNetwork reports a VPC or vswitch list that neither the file nor
// its imports give, and a NAT gateway without an EIP that is not to be
// assigned one.
func requireNetwork(t *Topology, errs *errorList) {
	why := "required field is missing"
	if len(t.Imports) > 0 {
		why += " (neither this file nor its imports give it)"
	}
	if !t.has("vpc") && !t.VPC.CIDR.IsValid() && t.origins["vpc"].IsZero() {
		errs.addAt(t.Pos(""), "vpc", "", why, "")
	}
	if !t.has("vswitches") && len(t.VSwitches) == 0 {
		errs.addAt(t.Pos(""), "vswitches", "", why, "")
	}
	for i := range t.NATGateways {
		n := &t.NATGateways[i]
		p := fmt.Sprintf("nat_gateways[%d].eip", i)
		if !n.EIP.IsValid() && !slices.Contains(n.Assigned, "eip") && !errs.paths[p] {
			errs.add(p, "", "required field is missing (or list eip in assigned to have one assigned)", "")
		}
	}
}
