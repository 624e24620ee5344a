// Package ros imports Alibaba Cloud Resource Orchestration Service (ROS)
// templates, in JSON or YAML, as a topology fragment: the VPC, vswitches,
// security groups and their rules, instances and instance groups, EIPs and
// NAT gateways with their SNAT and forward entries.
//
// Templates are parsed with goccy/go-yaml's syntax tree, which keeps the
// short-form tags (!Ref, !GetAtt a.b, !Join ...) that a plain unmarshal
// into any silently drops, and the line and column of every value (JSON is
// YAML, so one parser serves both). Only the values that decide
// reachability are evaluated, with Ref, Fn::GetAtt, Fn::Join, Fn::Select,
// Fn::Sub, Fn::Split, Fn::Replace, Fn::FindInMap, Fn::If and Conditions:
// a parameter that only sets a password or an image never needs a value.
//
// Importing the package registers the format "ros".
package ros

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

func init() { topology.RegisterImporter("ros", Import) }

// templateKeys are the top-level keys of a ROS template.
var templateKeys = []string{"ROSTemplateFormatVersion", "Description", "Metadata", "Parameters",
	"Mappings", "Conditions", "Resources", "Outputs", "Rules", "Locals", "Transform", "Workspace"}

// resourceKeys are the keys of one resource.
var resourceKeys = []string{"Type", "Properties", "Condition", "DependsOn", "Metadata",
	"DeletionPolicy", "UpdatePolicy", "CreationPolicy", "Description", "Count", "Version", "DependsOnCondition"}

// Import reads ROS templates (files, or directories of *.json, *.yaml,
// *.yml and *.template files) and returns their fragment. opts.Vars are the
// template parameters (--param NAME=VALUE). Every problem of every file is
// returned at once as a topology.Errors, sorted by file and position.
func Import(paths []string, opts topology.ImportOptions) (*topology.Fragment, error) {
	frag := &topology.Fragment{Format: "ros"}
	var all topology.Errors
	files, err := expand(paths)
	if err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	seen := map[string]topology.Origin{} // logical id → where, across files
	for _, file := range files {
		errs := &errList{file: file, skip: opts.SkipUnsupported}
		data, err := readFile(file)
		if err != nil {
			errs.at(1, 1, "", "", err.Error(), "")
		} else if t, b := importData(file, data, opts, errs); t != nil {
			for n := range t.params {
				declared[n] = true
			}
			join(frag, t, b, errs, seen)
		}
		frag.Skipped = append(frag.Skipped, errs.sortedSkipped()...)
		all = append(all, errs.sorted()...)
	}
	if len(opts.Vars) > 0 {
		var unknown []string
		for k := range opts.Vars {
			if !declared[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range declared {
					if !yield(n) {
						return
					}
				}
			})
			msg := fmt.Sprintf("--param %s: the template has no parameter %s", k, k)
			if s := suggest(k, names); s != "" {
				msg += "; did you mean " + s + "?"
			}
			all = append(all, &topology.Error{File: files[0], Line: 1, Column: 1, Path: "Parameters", Msg: msg, Allowed: strings.Join(names, ", ")})
		}
	}
	if len(all) > 0 {
		return nil, all
	}
	return frag, nil
}

// importData imports one template's text; t is nil when it could not be
// read as a template (the errors say why).
func importData(file string, data []byte, opts topology.ImportOptions, errs *errList) (*template, *builder) {
	root := parseTemplate(file, data, errs)
	if root == nil {
		return nil, nil
	}
	t := load(root, opts.Vars, errs)
	if t == nil {
		return nil, nil
	}
	b := newBuilder(t, file, errs)
	b.build()
	return t, b
}

// join adds one template's fragment to the import's: a logical id defined
// by an earlier template, or a second VPC, is an error naming both places.
func join(frag *topology.Fragment, t *template, b *builder, errs *errList, seen map[string]topology.Origin) {
	for _, r := range t.order {
		if prev, dup := seen[r.id]; dup && r.on {
			errs.add(r.at, "Resources."+r.id, r.id, fmt.Sprintf("logical id %s is also defined at %s:%d:%d", r.id, prev.File, prev.Line, prev.Column), "")
		} else if r.on {
			seen[r.id] = topology.Origin{File: errs.file, Line: r.at.line, Column: r.at.col}
		}
	}
	if frag.VPC.CIDR.IsValid() && b.frag.VPC.CIDR.IsValid() {
		r := t.resources[b.frag.VPC.Name]
		errs.unsupported(r.at, "Resources."+r.id, r.id, r.id,
			fmt.Sprintf("a second VPC (the first is %s at %s); a topology has one VPC", frag.VPC.Name, frag.VPC.Origin))
		b.frag.VPC = topology.VPC{}
	}
	merge(frag, b.frag)
}

func merge(dst, src *topology.Fragment) {
	if src.VPC.CIDR.IsValid() && !dst.VPC.CIDR.IsValid() {
		dst.VPC = src.VPC
	}
	dst.VSwitches = append(dst.VSwitches, src.VSwitches...)
	dst.SecurityGroups = append(dst.SecurityGroups, src.SecurityGroups...)
	dst.Instances = append(dst.Instances, src.Instances...)
	dst.NATGateways = append(dst.NATGateways, src.NATGateways...)
}

// expand lists the template files of paths: files as given, directories'
// templates sorted by name.
func expand(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("ros: no template given")
	}
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("ros: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("ros: %w", err)
		}
		n := len(out)
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".json", ".yaml", ".yml", ".template":
				if !e.IsDir() {
					out = append(out, filepath.Join(p, e.Name()))
				}
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("ros: %s holds no template (*.json, *.yaml, *.yml, *.template)", p)
		}
	}
	return out, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes (2 MiB)", maxFileSize)
	}
	data := make([]byte, st.Size())
	_, err = f.Read(data)
	if err != nil && st.Size() > 0 {
		return nil, err
	}
	return data, nil
}

// load reads the template's sections: parameters with their values,
// conditions, mappings and resources (with their conditions decided).
func load(root *node, vars map[string]string, errs *errList) *template {
	if root.kind != kMap {
		errs.add(root, "", "", "a ROS template is a mapping with ROSTemplateFormatVersion and Resources; got "+root.describe(), "")
		return nil
	}
	t := &template{errs: errs, root: root, params: map[string]*param{}, conditions: map[string]*node{},
		condState: map[string]int8{}, resources: map[string]*resource{}, budget: maxEval}
	for i, k := range root.keys {
		if !slices.Contains(templateKeys, k) {
			msg := fmt.Sprintf("unknown template section %q", k)
			if s := suggest(k, templateKeys); s != "" {
				msg += "; did you mean " + s + "?"
			}
			errs.add(root.vals[i], k, "", msg, strings.Join(templateKeys, ", "))
		}
	}
	if v := root.get("ROSTemplateFormatVersion"); v == nil {
		errs.add(root, "ROSTemplateFormatVersion", "", "a ROS template starts with ROSTemplateFormatVersion: '2015-09-01'", "2015-09-01")
	} else if v.kind != kString || v.s != "2015-09-01" {
		errs.add(v, "ROSTemplateFormatVersion", "", "unknown template version "+v.describe(), "2015-09-01")
	}
	t.loadParams(root.get("Parameters"), vars)
	if c := root.get("Conditions"); c != nil && c.kind == kMap {
		for i, k := range c.keys {
			t.conditions[k] = c.vals[i]
		}
	}
	t.mappings = root.get("Mappings")
	if tr := root.get("Transform"); tr != nil {
		what := tr.describe()
		msg := "a template with Transform " + what + " is expanded by ROS before it runs; vpclab reads plain templates"
		if strings.Contains(strings.ToLower(what), "terraform") {
			msg = "a Terraform-based template (Transform " + what + "): import the .tf files of its Workspace with format terraform"
		}
		errs.add(tr, "Transform", "", msg, "")
		return nil
	}
	res := root.get("Resources")
	if res == nil || res.kind != kMap {
		errs.add(root, "Resources", "", "the template has no Resources mapping", "")
		return t
	}
	for i, id := range res.keys {
		d := res.vals[i]
		path := "Resources." + id
		if d.kind != kMap {
			errs.add(d, path, id, "a resource is a mapping with Type and Properties; got "+d.describe(), "")
			continue
		}
		r := &resource{id: id, decl: d, at: res.kpos[i], on: true}
		for j, k := range d.keys {
			if !slices.Contains(resourceKeys, k) {
				msg := fmt.Sprintf("unknown resource key %q", k)
				if s := suggest(k, resourceKeys); s != "" {
					msg += "; did you mean " + s + "?"
				}
				errs.add(d.vals[j], path+"."+k, id, msg, strings.Join(resourceKeys, ", "))
			}
		}
		if ty := d.get("Type"); ty == nil || ty.kind != kString {
			errs.add(d, path+".Type", id, "the resource has no Type", "")
			continue
		} else {
			r.typ = ty.s
		}
		if p := d.get("Properties"); p != nil && p.kind != kNull {
			if p.kind != kMap {
				errs.add(p, path+".Properties", id, "Properties is a mapping; got "+p.describe(), "")
			} else {
				r.props = p
			}
		}
		t.resources[id] = r
		t.order = append(t.order, r)
	}
	for _, r := range t.order {
		c := r.decl.get("Condition")
		if c == nil {
			continue
		}
		if c.kind != kString {
			errs.add(c, "Resources."+r.id+".Condition", r.id, "Condition names a condition of Conditions; got "+c.describe(), "")
			continue
		}
		r.cond = c.s
		holds, ok := t.condition(c.s, c, ctx{"Resources." + r.id + ".Condition", r.id})
		r.on = holds && ok
	}
	return t
}

// loadParams gives each parameter its value: --param, else Default, else
// none (an error only where a value that matters uses it). AllowedValues
// are checked for every value given.
func (t *template) loadParams(ps *node, vars map[string]string) {
	if ps == nil || ps.kind == kNull {
		return
	}
	if ps.kind != kMap {
		t.errs.add(ps, "Parameters", "", "Parameters is a mapping; got "+ps.describe(), "")
		return
	}
	for i, name := range ps.keys {
		decl := ps.vals[i]
		path := "Parameters." + name
		p := &param{name: name, decl: decl}
		t.params[name] = p
		if decl.kind != kMap {
			t.errs.add(decl, path, name, "a parameter is a mapping with Type; got "+decl.describe(), "")
			continue
		}
		typ := "String"
		if ty := decl.get("Type"); ty != nil && ty.kind == kString {
			typ = ty.s
		}
		if v, ok := vars[name]; ok {
			p.given = true
			p.value = &node{kind: kString, s: v, line: decl.line, col: decl.col}
		} else if d := decl.get("Default"); d != nil && d.kind != kNull {
			p.value = d
		}
		if p.value == nil {
			continue
		}
		if av := decl.get("AllowedValues"); av != nil && av.kind == kList && p.value.kind == kString {
			var allowed []string
			ok := false
			for _, a := range av.list {
				if a.kind == kString {
					allowed = append(allowed, a.s)
					ok = ok || a.s == p.value.s
				}
			}
			if !ok {
				where, how := p.value, "Default"
				if p.given {
					where, how = decl, "--param "+name
				}
				t.errs.add(where, path, name, fmt.Sprintf("%s %q is not one of the parameter's AllowedValues", how, p.value.s), strings.Join(allowed, ", "))
			}
		}
		if typ == "CommaDelimitedList" && p.value.kind == kString {
			p.value = split(p.value, ",")
			for _, e := range p.value.list {
				e.s = strings.TrimSpace(e.s)
			}
		}
	}
}
