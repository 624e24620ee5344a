package aws

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/vpclab/vpclab/topology"
	"github.com/vpclab/vpclab/topology/terraform"
)

// The Terraform half of the aws format: .tf and .tf.json files (or
// directories of them) are evaluated offline by topology/terraform with
// awsSchema, and `terraform show -json` files are read by it; the aws_*
// resources are then mapped onto the AWS model (SecurityGroup, Permission,
// Instance, Subnet, Vpc), which the one translation (Translate) turns into
// a Fragment, as it does the describe-* JSON. The mapping:
//
//   - aws_security_group: GroupId is the resource's id (its address
//     offline, sg-… in show JSON), the name is the address. Each ingress
//     and egress block (or element of ingress = [...]) is a Permission:
//     protocol, from_port and to_port as IpProtocol, FromPort and ToPort,
//     cidr_blocks as IpRanges, security_groups (ids or names) and self as
//     UserIdGroupPairs, ipv6_cidr_blocks and prefix_list_ids as the
//     unsupported Ipv6Ranges and PrefixListIds. vpc_id says which VPC the
//     members are in. The provider removes AWS's default egress rule, so a
//     group without egress rules denies all egress.
//   - aws_security_group_rule (type, source_security_group_id — on egress
//     the destination — self, cidr_blocks, …) and
//     aws_vpc_security_group_ingress_rule / _egress_rule (cidr_ipv4,
//     referenced_security_group_id, ip_protocol, …) add a Permission to the
//     group of security_group_id, which must be in the input. Inline rules
//     and rule resources of one group are taken together, as AWS holds them
//     after an apply.
//   - aws_vpc and aws_subnet: cidr_block; aws_instance: subnet_id (required:
//     without it AWS picks a default subnet), private_ip (else the address
//     is assigned), vpc_security_group_ids or security_groups (without them
//     AWS uses the VPC's default group: an error unless the configuration
//     adopts it with aws_default_security_group, a group like the others,
//     also referenced as aws_vpc.x.default_security_group_id). A
//     public address the cloud picks — associate_public_ip_address, or the
//     subnet's map_public_ip_on_launch when the instance does not say, or an
//     aws_eip (instance) or aws_eip_association without a known address —
//     is "eip" in Assigned; a known one (show JSON's public_ip, an EIP's
//     public_ip or address) is the EIP. EIPs on network interfaces are not
//     supported.
//   - Names are Terraform addresses: groups by GroupName, the VPC, subnets
//     and instances by a Name tag set to the address (the configuration's
//     own Name tags are not read). A reference to an id that is not in the
//     input (sg-0123…, subnet-…) is kept as that id, for the user's
//     topology to define.
//   - Errors name the Terraform argument (resource.aws_security_group.web.ingress[0].protocol):
//     Translate's AWS field names are renamed through renames.
//
// A plan's planned_values leave out what is known only after apply; an
// inline rule of a plan that lacks cidr_blocks, security_groups, self or
// protocol is an error asking for the applied state's JSON, so that a
// source is never dropped silently.

// tfInput is what Import was given in Terraform form.
type tfInput struct {
	configs []string // .tf, .tf.json files and directories holding them
	shows   []string // show JSON files
	srcs    map[string][]byte
}

// add claims path when it is Terraform input: a .tf or .tf.json file, a
// directory holding one, or a .json file with format_version (the output
// of `terraform show -json`). A describe-* file or directory is left to
// the JSON reader.
func (tf *tfInput) add(path string) bool {
	if isTerraformFile(path) {
		tf.configs = append(tf.configs, path)
		return true
	}
	st, err := os.Stat(path)
	if err != nil {
		return false // the JSON reader reports it
	}
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return false
		}
		for _, e := range ents {
			if !e.IsDir() && isTerraformFile(e.Name()) {
				tf.configs = append(tf.configs, path)
				return true
			}
		}
		return false
	}
	if !strings.EqualFold(filepath.Ext(path), ".json") {
		return false
	}
	data, err := readLimited(path)
	if err != nil {
		return false
	}
	if !isShowJSON(data) {
		return false
	}
	if tf.srcs == nil {
		tf.srcs = map[string][]byte{}
	}
	tf.shows = append(tf.shows, path)
	tf.srcs[path] = data
	return true
}

func isTerraformFile(name string) bool {
	return strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")
}

// isShowJSON reports whether data is `terraform show -json` output rather
// than describe-* output: its top level has format_version.
func isShowJSON(data []byte) bool {
	return bytes.Contains(data, []byte(`"format_version"`))
}

// readLimited reads a file of at most maxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(data) > maxFileSize {
		err = fmt.Errorf("larger than %d MiB", maxFileSize>>20)
	}
	return data, err
}

// tfMapper maps evaluated aws_* resources onto the AWS model.
type tfMapper struct {
	rep    *report
	in     *inputs
	byID   map[string]*terraform.Resource
	byAddr map[string]*terraform.Resource
	byName map[string]*terraform.Resource // a group's name argument → the group
	shown  map[*terraform.Resource]bool   // read from show JSON
	groups map[*terraform.Resource]int    // → index in in.groups
	insts  map[*terraform.Resource]int    // → index in in.instances
	eipOf  map[*terraform.Resource]*terraform.Resource
	subnet map[string]*terraform.Resource // SubnetId → subnet
	// assignEIP are the instances (fragment names) whose public address
	// the cloud picks: the merge assigns one.
	assignEIP map[string]bool
	// renames turn the AWS field an error of Translate names into the
	// Terraform argument, per element path.
	renames map[string]map[string]string
}

// load evaluates the Terraform input and adds its resources to in.
func (tf *tfInput) load(in *inputs, opts topology.ImportOptions, rep *report) *tfMapper {
	m := &tfMapper{rep: rep, in: in, byID: map[string]*terraform.Resource{}, byAddr: map[string]*terraform.Resource{},
		byName: map[string]*terraform.Resource{}, shown: map[*terraform.Resource]bool{}, groups: map[*terraform.Resource]int{},
		insts: map[*terraform.Resource]int{}, eipOf: map[*terraform.Resource]*terraform.Resource{},
		subnet: map[string]*terraform.Resource{}, assignEIP: map[string]bool{}, renames: map[string]map[string]string{}}
	var res []*terraform.Resource
	for _, p := range tf.shows {
		rs, errs := terraform.ReadShowJSON(p, tf.srcs[p], awsSchema)
		rep.errs = append(rep.errs, errs...)
		for _, r := range rs {
			m.shown[r] = true
		}
		res = append(res, rs...)
	}
	if len(tf.configs) > 0 {
		cfg, errs := terraform.Evaluate(tf.configs, opts, awsSchema)
		rep.errs = append(rep.errs, errs...)
		if cfg != nil {
			res = append(res, cfg.Resources...)
		}
	}
	if len(res) == 0 && len(rep.errs) == 0 {
		// Most likely the configuration of another provider (format
		// terraform reads alicloud): an empty import would test nothing.
		at := append(slices.Clone(tf.configs), tf.shows...)[0]
		rep.fail(topology.Origin{File: at, Line: 1, Column: 1}, "", "",
			"holds no resource the aws format reads: "+strings.Join(slices.Sorted(maps.Keys(awsSchema)), ", "), "")
	}
	m.mapAll(res)
	return m
}

// finish writes into the translated fragment what the model cannot say
// (an instance whose public address the cloud assigns) and names the
// Terraform arguments in the errors of the translation.
func (m *tfMapper) finish(frag *topology.Fragment) {
	if m == nil {
		return
	}
	for i := range frag.Instances {
		in := &frag.Instances[i]
		if m.assignEIP[in.Name] && !in.EIP.IsValid() && !slices.Contains(in.Assigned, "eip") {
			in.Assigned = append(in.Assigned, "eip")
		}
	}
	for _, e := range m.rep.errs {
		m.rename(e)
		if strings.HasPrefix(e.Path, "resource.") {
			e.Entity = "" // the path names the resource
		}
	}
}

// rename rewrites an error path that ends in an AWS field
// (resource.aws_security_group.web.ingress[0].IpProtocol) to the Terraform
// argument (….protocol).
func (m *tfMapper) rename(e *topology.Error) {
	i := strings.LastIndexByte(e.Path, '.')
	if i < 0 {
		return
	}
	elem, field := e.Path[:i], e.Path[i+1:]
	t, ok := m.renames[elem]
	if !ok {
		return
	}
	arg, ok := t[field]
	if !ok {
		return
	}
	if arg == "" {
		e.Path = elem
	} else {
		e.Path = elem + "." + arg
	}
}

func (m *tfMapper) mapAll(res []*terraform.Resource) {
	byType := map[string][]*terraform.Resource{}
	for _, r := range res {
		m.byID[r.ID] = r
		m.byAddr[r.Address] = r
		byType[r.Type] = append(byType[r.Type], r)
	}
	for _, r := range byType["aws_security_group"] {
		if s, ok := optString(r, "name"); ok && s != "" {
			if _, dup := m.byName[s]; !dup {
				m.byName[s] = r
			}
		}
	}
	for _, r := range byType["aws_vpc"] {
		m.mapVPC(r)
	}
	for _, r := range byType["aws_subnet"] {
		m.mapSubnet(r)
	}
	for _, r := range slices.Concat(byType["aws_security_group"], byType["aws_default_security_group"]) {
		m.mapGroup(r)
	}
	for _, r := range byType["aws_security_group_rule"] {
		m.mapRule(r)
	}
	for _, typ := range []string{"aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"} {
		for _, r := range byType[typ] {
			m.mapVPCRule(r)
		}
	}
	for _, r := range byType["aws_instance"] {
		m.mapInstance(r)
	}
	for _, r := range byType["aws_eip"] {
		m.mapEIP(r)
	}
	for _, r := range byType["aws_eip_association"] {
		m.mapAssociation(r)
	}
	m.publicAddresses(byType["aws_instance"])
}

// tfName is what users call r: its address, spaces (from a for_each key)
// written as "-", as topology names have none.
func tfName(r *terraform.Resource) string { return strings.ReplaceAll(r.Address, " ", "-") }

// resPath is r's field path in errors.
func resPath(r *terraform.Resource) string { return "resource." + r.Address }

func rangeOrigin(rng hcl.Range, resource string) topology.Origin {
	return topology.Origin{File: rng.Filename, Line: max(rng.Start.Line, 1), Column: max(rng.Start.Column, 1), Resource: resource}
}

// tfOrigin is where r is defined.
func tfOrigin(r *terraform.Resource) topology.Origin { return rangeOrigin(r.Range, r.Address) }

// argRange is the range of r's argument a, or r's own.
func argRange(r *terraform.Resource, a string) hcl.Range {
	if rng, ok := r.AttrRanges[a]; ok {
		return rng
	}
	return r.Range
}

// fail records an error about argument a of r.
func (m *tfMapper) fail(r *terraform.Resource, a, msg, allowed string) {
	m.rep.fail(rangeOrigin(argRange(r, a), r.Address), resPath(r)+"."+a, r.Address, msg, allowed)
}

// unsupported records something understood but not modelled.
func (m *tfMapper) unsupported(r *terraform.Resource, a, why string) {
	m.rep.unsupported(rangeOrigin(argRange(r, a), r.Address), resPath(r)+"."+a, r.Address, why)
}

// whyText is why the unknown v is unknown, as one sentence.
func whyText(v cty.Value) string {
	ws := terraform.WhyOf(v)
	if len(ws) == 0 {
		return "it cannot be known offline: import the JSON of `terraform show -json` instead"
	}
	s := make([]string, 0, len(ws))
	for _, w := range ws {
		s = append(s, w.String())
	}
	if len(s) > 3 {
		s = append(s[:3], fmt.Sprintf("and %d more", len(s)-3))
	}
	return strings.Join(s, "; ")
}

// onlyCycle reports whether v is unknown only because it is part of a
// reference cycle, which Evaluate reports once, where it closes.
func onlyCycle(v cty.Value) bool {
	ws := terraform.WhyOf(v)
	return len(ws) > 0 && !slices.ContainsFunc(ws, func(w terraform.Why) bool { return w.Kind != "cycle" })
}

// arg is one argument of a resource or of a nested block, with what errors
// about it need.
type arg struct {
	v      cty.Value // cty.NilVal when not set
	rng    hcl.Range
	path   string // field path
	entity string // the resource address
}

// set reports whether a is set: to anything but null or "" (show JSON
// writes unset string arguments as "").
func (a arg) set() bool {
	if a.v == cty.NilVal {
		return false
	}
	if !a.v.IsKnown() {
		return true
	}
	v, _ := a.v.Unmark()
	return !v.IsNull() && !(v.Type() == cty.String && v.AsString() == "")
}

func resArg(r *terraform.Resource, name string) arg {
	return arg{v: r.Attrs[name], rng: argRange(r, name), path: resPath(r) + "." + name, entity: r.Address}
}

func blockArg(r *terraform.Resource, b *terraform.Block, path, name string) arg {
	rng, ok := b.AttrRanges[name]
	if !ok {
		rng = b.Range
	}
	return arg{v: b.Attrs[name], rng: rng, path: path + "." + name, entity: r.Address}
}

func (m *tfMapper) argFail(a arg, msg, allowed string) {
	m.rep.fail(rangeOrigin(a.rng, a.entity), a.path, a.entity, msg, allowed)
}

// known returns a's value when it is set and known, unmarked; an unknown
// value is an error saying why, as the mapping reads only what decides
// reachability.
func (m *tfMapper) known(a arg) (cty.Value, bool) {
	if !a.set() {
		return cty.NilVal, false
	}
	if !a.v.IsWhollyKnown() {
		if !onlyCycle(a.v) {
			name := a.path[strings.LastIndexByte(a.path, '.')+1:]
			m.argFail(a, name+" decides reachability but is not known: "+whyText(a.v), "")
		}
		return cty.NilVal, false
	}
	v, _ := a.v.UnmarkDeep()
	return v, true
}

// str is a as a string.
func (m *tfMapper) str(a arg) (string, bool) {
	v, ok := m.known(a)
	if !ok {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		m.argFail(a, "must be a string, not "+v.Type().FriendlyName(), "")
		return "", false
	}
	return s.AsString(), true
}

// integer is a as a whole number.
func (m *tfMapper) integer(a arg) (int, bool) {
	v, ok := m.known(a)
	if !ok {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err == nil && !n.IsNull() {
		if i, acc := n.AsBigFloat().Int64(); acc == big.Exact && i >= -1<<31 && i < 1<<31 {
			return int(i), true
		}
	}
	m.argFail(a, "must be a whole number", "")
	return 0, false
}

// boolean is a as a bool (false when unset).
func (m *tfMapper) boolean(a arg) bool {
	v, ok := m.known(a)
	if !ok {
		return false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || b.IsNull() {
		m.argFail(a, "must be true or false", "")
		return false
	}
	return b.True()
}

// elems are the elements of the list a (nil when unset); an unknown list or
// element is an error.
func (m *tfMapper) elems(a arg) []arg {
	if !a.set() {
		return nil
	}
	if !a.v.IsKnown() {
		m.known(a)
		return nil
	}
	v, _ := a.v.Unmark()
	ty := v.Type()
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		m.argFail(a, "must be a list, not "+ty.FriendlyName(), "")
		return nil
	}
	var out []arg
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		out = append(out, arg{v: e, rng: a.rng, path: fmt.Sprintf("%s[%d]", a.path, i), entity: a.entity})
	}
	return out
}

// optString is r's argument a as a string when set and known, without
// errors (for what does not decide reachability).
func optString(r *terraform.Resource, a string) (string, bool) {
	v, ok := r.Attrs[a]
	if !ok || v == cty.NilVal || !v.IsWhollyKnown() {
		return "", false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		return "", false
	}
	return s.AsString(), true
}

// target resolves a reference to a resource: a known id (an address
// offline, the cloud's id in show JSON), or an unknown value marked as one
// resource's attribute (an id a plan knows only after apply).
func (m *tfMapper) target(v cty.Value) (*terraform.Resource, string) {
	if v == cty.NilVal {
		return nil, ""
	}
	if v.IsWhollyKnown() {
		v, _ = v.UnmarkDeep()
		if v.IsNull() || v.Type() != cty.String {
			return nil, ""
		}
		if r := m.byID[v.AsString()]; r != nil {
			return r, "id"
		}
		return nil, ""
	}
	ws := terraform.WhyOf(v)
	if len(ws) == 1 && ws[0].Kind == "computed" {
		return m.byAddr[ws[0].Name], ws[0].Attr
	}
	return nil, ""
}

// ref resolves a to the id of a resource of type typ. A literal id that
// names nothing of the configuration (sg-0123…) is returned as it is when
// literal is set, for the user's topology to define; else it is an error.
func (m *tfMapper) ref(a arg, typ string, literal bool) (string, *terraform.Resource, bool) {
	if !a.set() {
		return "", nil, false
	}
	t, attr := m.target(a.v)
	if t != nil && t.Type == typ && (attr == "id" || typ == "aws_security_group" && attr == "name") {
		return t.ID, t, true
	}
	if typ == "aws_security_group" && t != nil {
		// The default group: aws_default_security_group.x.id, or
		// aws_vpc.x.default_security_group_id when the configuration
		// adopts that VPC's default group.
		if t.Type == "aws_default_security_group" && attr == "id" {
			return t.ID, t, true
		}
		if t.Type == "aws_vpc" && attr == "default_security_group_id" {
			if g := m.defaultGroup(t.ID); g != nil {
				return g.ID, g, true
			}
		}
	}
	if t == nil && typ == "aws_security_group" && a.v.IsWhollyKnown() {
		// A group named by its name (security_groups of the default VPC).
		v, _ := a.v.UnmarkDeep()
		if v.Type() == cty.String && !v.IsNull() {
			if g := m.byName[v.AsString()]; g != nil {
				return g.ID, g, true
			}
		}
	}
	name := a.path[strings.LastIndexByte(a.path, '.')+1:]
	switch {
	case !a.v.IsWhollyKnown():
		if ws := terraform.WhyOf(a.v); len(ws) == 1 && ws[0].Kind == "computed" && t != nil {
			m.argFail(a, fmt.Sprintf("%s is %s.%s, not the id of an %s", name, t.Address, ws[0].Attr, typ), "")
			return "", nil, false
		}
		m.known(a)
	case t != nil:
		m.argFail(a, fmt.Sprintf("%s names %s, not an %s", name, t.Address, typ), "")
	default:
		s, ok := m.str(a)
		if !ok {
			return "", nil, false
		}
		if literal && s != "" {
			return s, nil, true
		}
		m.argFail(a, fmt.Sprintf("%s is %q, which is no %s of this configuration: vpclab needs its definition (or import the JSON of `terraform show -json` together with it)", name, s, typ), "")
	}
	return "", nil, false
}

func (m *tfMapper) mapVPC(r *terraform.Resource) {
	v := Vpc{VpcId: r.ID, Tags: []Tag{{Key: "Name", Value: tfName(r)}}, Origin: tfOrigin(r), Path: resPath(r)}
	m.renames[v.Path] = map[string]string{"CidrBlock": "cidr_block", "VpcId": ""}
	if s, ok := m.str(resArg(r, "cidr_block")); ok {
		v.CidrBlock = s
		v.CidrBlocks = []VpcCidrBlock{{CidrBlock: s}}
	} else if resArg(r, "cidr_block").set() {
		return
	} else if resArg(r, "ipv4_ipam_pool_id").set() {
		m.fail(r, "ipv4_ipam_pool_id", "the VPC takes its CIDR block from an IPAM pool, which vpclab cannot read: set cidr_block, or import the JSON of `terraform show -json` of the applied state", "")
		return
	}
	m.in.vpcs = append(m.in.vpcs, v)
}

func (m *tfMapper) mapSubnet(r *terraform.Resource) {
	s := Subnet{SubnetId: r.ID, Tags: []Tag{{Key: "Name", Value: tfName(r)}}, Origin: tfOrigin(r), Path: resPath(r)}
	m.renames[s.Path] = map[string]string{"CidrBlock": "cidr_block", "SubnetId": ""}
	if id, _, ok := m.ref(resArg(r, "vpc_id"), "aws_vpc", true); ok {
		s.VpcId = id
	}
	if c, ok := m.str(resArg(r, "cidr_block")); ok {
		s.CidrBlock = c
	} else if resArg(r, "cidr_block").set() {
		return
	} else if resArg(r, "ipv4_ipam_pool_id").set() {
		m.fail(r, "ipv4_ipam_pool_id", "the subnet takes its CIDR block from an IPAM pool, which vpclab cannot read: set cidr_block, or import the JSON of `terraform show -json` of the applied state", "")
		return
	}
	m.subnet[s.SubnetId] = r
	m.in.subnets = append(m.in.subnets, s)
}

// ruleFields are the renames of a rule's errors: the AWS fields Translate
// names, as the Terraform arguments.
func ruleFields(protocol string) map[string]string {
	return map[string]string{"IpProtocol": protocol, "FromPort": "from_port", "ToPort": "to_port", "CidrIp": "", "GroupId": ""}
}

func (m *tfMapper) mapGroup(r *terraform.Resource) {
	g := SecurityGroup{GroupId: r.ID, GroupName: tfName(r), Origin: tfOrigin(r), Path: resPath(r)}
	m.renames[g.Path] = map[string]string{"GroupId": ""}
	if a := resArg(r, "vpc_id"); a.set() {
		// Which VPC decides what "all members" covers; one that cannot be
		// resolved is taken as the imported VPC.
		if t, attr := m.target(a.v); t != nil && t.Type == "aws_vpc" && attr == "id" {
			g.VpcId = t.ID
		} else if s, ok := optString(r, "vpc_id"); ok {
			g.VpcId = s
		}
	}
	for _, dir := range []string{"ingress", "egress"} {
		for i, b := range m.ruleBlocks(r, dir) {
			path := fmt.Sprintf("%s.%s[%d]", g.Path, dir, i)
			o := rangeOrigin(b.Range, r.Address)
			p, ok := m.permission(r, g.GroupId, o, path, "protocol", func(name string) arg { return blockArg(r, b, path, name) }, true)
			if !ok {
				continue
			}
			if m.shown[r] {
				m.checkShownBlock(r, b, path)
			} else if !slices.ContainsFunc([]string{"cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids", "security_groups", "self"},
				func(a string) bool { return nonEmpty(blockArg(r, b, path, a)) }) {
				// AWS refuses a rule without a source or destination.
				m.rep.fail(o, path, "", "a rule needs one of cidr_blocks, ipv6_cidr_blocks, prefix_list_ids, security_groups, self = true", "")
			}
			if dir == "ingress" {
				g.IpPermissions = append(g.IpPermissions, p)
			} else {
				g.IpPermissionsEgress = append(g.IpPermissionsEgress, p)
			}
		}
	}
	m.groups[r] = len(m.in.groups)
	m.in.groups = append(m.in.groups, g)
}

// ruleBlocks are the ingress or egress rules of a group: its blocks, or
// the elements of the argument written as a list of objects (attributes as
// blocks: ingress = [{...}], or .tf.json).
func (m *tfMapper) ruleBlocks(r *terraform.Resource, dir string) []*terraform.Block {
	if bs := r.Blocks[dir]; len(bs) > 0 {
		return bs
	}
	a := resArg(r, dir)
	var out []*terraform.Block
	for _, e := range m.elems(a) {
		v, ok := m.known(e)
		if !ok {
			continue
		}
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			m.argFail(e, "must be an object of "+strings.Join(ruleBlock.Args, ", "), "")
			continue
		}
		b := &terraform.Block{Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, Range: e.rng}
		for k, ev := range v.AsValueMap() {
			if !slices.Contains(ruleBlock.Args, k) {
				msg := fmt.Sprintf("an argument named %q is not expected here", k)
				if s := suggest(k, ruleBlock.Args); s != "" {
					msg += fmt.Sprintf(". Did you mean %q?", s)
				}
				m.argFail(arg{rng: e.rng, path: e.path + "." + k, entity: e.entity}, msg, strings.Join(ruleBlock.Args, ", "))
				continue
			}
			b.Attrs[k] = ev
			b.AttrRanges[k] = e.rng
		}
		out = append(out, b)
	}
	return out
}

// checkShownBlock reports an inline rule of a plan whose lists are known
// only after apply: a plan leaves unknown values out of planned_values, so
// a missing list would otherwise drop a source silently.
func (m *tfMapper) checkShownBlock(r *terraform.Resource, b *terraform.Block, path string) {
	for _, a := range []string{"cidr_blocks", "security_groups", "self", "protocol"} {
		if _, ok := b.Attrs[a]; !ok {
			m.rep.fail(rangeOrigin(b.Range, r.Address), path+"."+a, r.Address,
				a+" decides reachability but is known only after apply: import the JSON of `terraform show -json` of the applied state", "")
			return
		}
	}
}

// permission reads one rule (an inline block or a rule resource) of the
// group with id gid: protocol, ports and the remote side.
func (m *tfMapper) permission(r *terraform.Resource, gid string, o topology.Origin, path, protoArg string, get func(string) arg, portsRequired bool) (Permission, bool) {
	p := Permission{Origin: o, Path: path}
	m.renames[path] = ruleFields(protoArg)
	proto := get(protoArg)
	switch s, ok := m.str(proto); {
	case ok:
		p.IpProtocol = s
	case !proto.set():
		m.argFail(proto, protoArg+" is required", "-1 (all), tcp, udp, icmp, 47 (gre)")
		return p, false
	default:
		return p, false
	}
	for _, port := range []struct {
		name string
		to   **int
	}{{"from_port", &p.FromPort}, {"to_port", &p.ToPort}} {
		a := get(port.name)
		if !a.set() {
			if portsRequired {
				m.argFail(a, port.name+" is required", "a port, an ICMP type or code (-1: all), 0 for protocol -1")
				return p, false
			}
			continue
		}
		n, ok := m.integer(a)
		if !ok {
			return p, false
		}
		*port.to = &n
	}
	desc, _ := optStrArg(get("description"))
	for _, c := range m.elems(get("cidr_blocks")) {
		if s, ok := m.str(c); ok {
			p.IpRanges = append(p.IpRanges, IpRange{CidrIp: s, Description: desc, Path: c.path})
			m.renames[c.path] = map[string]string{"CidrIp": ""}
		}
	}
	if a := get("cidr_ipv4"); a.set() {
		if s, ok := m.str(a); ok {
			p.IpRanges = append(p.IpRanges, IpRange{CidrIp: s, Description: desc, Path: a.path})
			m.renames[a.path] = map[string]string{"CidrIp": ""}
		}
	}
	// IPv6 is not supported whatever its value: an unknown one (a VPC's
	// ipv6_cidr_block) is reported as IPv6, not as unknown.
	for _, c := range m.elems(get("ipv6_cidr_blocks")) {
		s, _ := optStrArg(c)
		p.Ipv6Ranges = append(p.Ipv6Ranges, Ipv6Range{CidrIpv6: orText(s, "(known after apply)"), Path: c.path, Origin: rangeOrigin(c.rng, r.Address)})
	}
	if a := get("cidr_ipv6"); a.set() {
		s, _ := optStrArg(a)
		p.Ipv6Ranges = append(p.Ipv6Ranges, Ipv6Range{CidrIpv6: orText(s, "(known after apply)"), Path: a.path, Origin: rangeOrigin(a.rng, r.Address)})
	}
	for _, c := range m.elems(get("prefix_list_ids")) {
		s, _ := optStrArg(c)
		p.PrefixListIds = append(p.PrefixListIds, PrefixListId{PrefixListId: orText(s, "(known after apply)"), Path: c.path, Origin: rangeOrigin(c.rng, r.Address)})
	}
	if a := get("prefix_list_id"); a.set() {
		s, _ := optStrArg(a)
		p.PrefixListIds = append(p.PrefixListIds, PrefixListId{PrefixListId: orText(s, "(known after apply)"), Path: a.path, Origin: rangeOrigin(a.rng, r.Address)})
	}
	for _, name := range []string{"security_groups", "source_security_group_id", "referenced_security_group_id"} {
		a := get(name)
		refs := []arg{a}
		if name == "security_groups" {
			refs = m.elems(a)
		} else if !a.set() {
			continue
		}
		for _, e := range refs {
			if id, _, ok := m.ref(e, "aws_security_group", true); ok {
				p.UserIdGroupPairs = append(p.UserIdGroupPairs, UserIdGroupPair{GroupId: id, Description: desc, Path: e.path})
			}
		}
	}
	if a := get("self"); a.set() && m.boolean(a) {
		p.UserIdGroupPairs = append(p.UserIdGroupPairs, UserIdGroupPair{GroupId: gid, Description: desc, Path: a.path})
	}
	return p, true
}

// nonEmpty reports whether a is set to something other than an empty list
// or false (an unknown value counts as set).
func nonEmpty(a arg) bool {
	if !a.set() {
		return false
	}
	if !a.v.IsWhollyKnown() {
		return true
	}
	v, _ := a.v.UnmarkDeep()
	switch {
	case v.Type() == cty.Bool:
		return v.True()
	case v.CanIterateElements():
		return v.LengthInt() > 0
	}
	return true
}

// optStrArg is a as a string when known, without errors.
func optStrArg(a arg) (string, bool) {
	if !a.set() || !a.v.IsWhollyKnown() {
		return "", false
	}
	v, _ := a.v.UnmarkDeep()
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		return "", false
	}
	return s.AsString(), true
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// group resolves a rule resource's security_group_id to the group it adds
// to, which must be in the configuration.
func (m *tfMapper) group(r *terraform.Resource) *SecurityGroup {
	a := resArg(r, "security_group_id")
	if !a.set() {
		m.fail(r, "security_group_id", "security_group_id is required", "")
		return nil
	}
	_, g, ok := m.ref(a, "aws_security_group", false)
	if !ok {
		return nil
	}
	i, ok := m.groups[g]
	if !ok {
		return nil
	}
	return &m.in.groups[i]
}

// exclusive reports an error when more than one of the remote arguments is
// set, and when none is.
func (m *tfMapper) exclusive(r *terraform.Resource, need []string, conflicts [][2]string) bool {
	var set []string
	for _, a := range need {
		if nonEmpty(resArg(r, a)) { // self = false and [] (show JSON) set nothing
			set = append(set, a)
		}
	}
	if len(set) == 0 {
		m.fail(r, need[0], "one of "+strings.Join(need, ", ")+" is required", "")
		return false
	}
	for _, c := range conflicts {
		if slices.Contains(set, c[0]) && slices.Contains(set, c[1]) {
			m.fail(r, c[1], c[0]+" and "+c[1]+" cannot both be set", "")
			return false
		}
	}
	return true
}

func (m *tfMapper) mapRule(r *terraform.Resource) {
	g := m.group(r)
	dir, ok := m.str(resArg(r, "type"))
	switch {
	case !ok:
		if !resArg(r, "type").set() {
			m.fail(r, "type", "type is required", "ingress, egress")
		}
		return
	case dir != "ingress" && dir != "egress":
		m.fail(r, "type", fmt.Sprintf("type %q is not a direction", dir), "ingress, egress")
		return
	}
	if !m.exclusive(r, []string{"cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids", "self", "source_security_group_id"},
		[][2]string{{"cidr_blocks", "source_security_group_id"}, {"ipv6_cidr_blocks", "source_security_group_id"},
			{"cidr_blocks", "self"}, {"ipv6_cidr_blocks", "self"}, {"self", "source_security_group_id"}}) {
		return
	}
	gid := ""
	if g != nil {
		gid = g.GroupId
	}
	p, ok := m.permission(r, gid, tfOrigin(r), resPath(r), "protocol", func(name string) arg { return resArg(r, name) }, true)
	if !ok || g == nil {
		return
	}
	m.addPermission(g, dir, p)
}

func (m *tfMapper) addPermission(g *SecurityGroup, dir string, p Permission) {
	if dir == "ingress" {
		g.IpPermissions = append(g.IpPermissions, p)
	} else {
		g.IpPermissionsEgress = append(g.IpPermissionsEgress, p)
	}
}

func (m *tfMapper) mapVPCRule(r *terraform.Resource) {
	g := m.group(r)
	dir := "ingress"
	if r.Type == "aws_vpc_security_group_egress_rule" {
		dir = "egress"
	}
	if !m.exclusive(r, []string{"cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id"},
		[][2]string{{"cidr_ipv4", "cidr_ipv6"}, {"cidr_ipv4", "prefix_list_id"}, {"cidr_ipv4", "referenced_security_group_id"},
			{"cidr_ipv6", "prefix_list_id"}, {"cidr_ipv6", "referenced_security_group_id"}, {"prefix_list_id", "referenced_security_group_id"}}) {
		return
	}
	gid := ""
	if g != nil {
		gid = g.GroupId
	}
	p, ok := m.permission(r, gid, tfOrigin(r), resPath(r), "ip_protocol", func(name string) arg { return resArg(r, name) }, false)
	if !ok || g == nil {
		return
	}
	m.addPermission(g, dir, p)
}

func (m *tfMapper) mapInstance(r *terraform.Resource) {
	in := Instance{InstanceId: r.ID, Tags: []Tag{{Key: "Name", Value: tfName(r)}}, Origin: tfOrigin(r), Path: resPath(r)}
	if s, ok := optString(r, "instance_state"); ok {
		in.State = s
	}
	sgArg := "vpc_security_group_ids"
	if !resArg(r, sgArg).set() || m.emptyList(r, sgArg) && resArg(r, "security_groups").set() {
		sgArg = "security_groups"
	}
	m.renames[in.Path] = map[string]string{"SubnetId": "subnet_id", "PrivateIpAddress": "private_ip",
		"PublicIpAddress": "public_ip", "SecurityGroups": sgArg, "InstanceId": ""}
	sub := resArg(r, "subnet_id")
	if !sub.set() {
		m.fail(r, "subnet_id", "subnet_id is required: vpclab needs the instance's subnet (without it AWS picks a default subnet; network_interface blocks are not read)", "")
		return
	}
	id, _, ok := m.ref(sub, "aws_subnet", true)
	if !ok {
		return
	}
	in.SubnetId = id
	if a := resArg(r, "private_ip"); a.set() {
		s, ok := m.str(a)
		if !ok {
			return
		}
		in.PrivateIpAddress = s
	}
	if s, ok := optString(r, "public_ip"); ok {
		in.PublicIpAddress = s
	}
	groups := m.elems(resArg(r, sgArg))
	if len(groups) == 0 {
		// AWS puts the instance in its VPC's default group.
		vpc := ""
		if i := slices.IndexFunc(m.in.subnets, func(s Subnet) bool { return s.SubnetId == in.SubnetId }); i >= 0 {
			vpc = m.in.subnets[i].VpcId
		}
		g := m.defaultGroup(vpc)
		if g == nil {
			m.fail(r, "vpc_security_group_ids", "neither vpc_security_group_ids nor security_groups lists a group: AWS puts the instance in its VPC's default security group, whose rules this configuration does not say (adopt it with aws_default_security_group, or list the groups)", "")
			return
		}
		groups = []arg{{v: cty.StringVal(g.ID), rng: r.Range, path: resPath(r) + ".vpc_security_group_ids", entity: r.Address}}
	}
	for _, e := range groups {
		if gid, _, ok := m.ref(e, "aws_security_group", true); ok && !slices.ContainsFunc(in.SecurityGroups, func(g GroupIdentifier) bool { return g.GroupId == gid }) {
			in.SecurityGroups = append(in.SecurityGroups, GroupIdentifier{GroupId: gid, Path: e.path})
		}
	}
	if len(in.SecurityGroups) == 0 {
		return
	}
	m.insts[r] = len(m.in.instances)
	m.in.instances = append(m.in.instances, in)
}

// defaultGroup is the aws_default_security_group of the VPC with id vpc
// (the only one when vpc is "" or the group does not say its VPC), or nil.
func (m *tfMapper) defaultGroup(vpc string) *terraform.Resource {
	var found []*terraform.Resource
	for r := range m.groups {
		if r.Type != "aws_default_security_group" {
			continue
		}
		gv := ""
		if t, attr := m.target(r.Attrs["vpc_id"]); t != nil && attr == "id" {
			gv = t.ID
		} else if s, ok := optString(r, "vpc_id"); ok {
			gv = s
		}
		if vpc == "" || gv == "" || gv == vpc {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return nil
	}
	return found[0]
}

// emptyList reports whether r's argument a is a known empty list.
func (m *tfMapper) emptyList(r *terraform.Resource, a string) bool {
	v := r.Attrs[a]
	if v == cty.NilVal || !v.IsKnown() {
		return false
	}
	v, _ = v.Unmark()
	return !v.IsNull() && v.CanIterateElements() && v.LengthInt() == 0
}

// publicAddresses marks the instances that get a public address the cloud
// picks: associate_public_ip_address, or a subnet with
// map_public_ip_on_launch when the instance does not say.
func (m *tfMapper) publicAddresses(instances []*terraform.Resource) {
	for _, r := range instances {
		i, ok := m.insts[r]
		if !ok {
			continue
		}
		in := &m.in.instances[i]
		public := false
		if a := resArg(r, "associate_public_ip_address"); a.set() {
			public = m.boolean(a)
		} else if s := m.subnet[in.SubnetId]; s != nil {
			if v, ok := optString(s, "map_public_ip_on_launch"); ok {
				public = v == "true"
			}
		}
		if (public || m.eipOf[r] != nil) && in.PublicIpAddress == "" {
			m.assignEIP[tfName(r)] = true
		}
	}
}

// setEIP gives the instance the EIP resource eip (its address when known).
func (m *tfMapper) setEIP(r *terraform.Resource, a string, inst, eip *terraform.Resource) {
	i, ok := m.insts[inst]
	if !ok {
		return // the instance was refused; that is reported
	}
	if old := m.eipOf[inst]; old != nil && old != eip {
		m.fail(r, a, fmt.Sprintf("%s already has the EIP %s", inst.Address, old.Address), "")
		return
	}
	m.eipOf[inst] = eip
	in := &m.in.instances[i]
	for _, attr := range []string{"public_ip", "address"} {
		if s, ok := optString(eip, attr); ok && s != "" {
			in.PublicIpAddress = s
			return
		}
	}
}

func (m *tfMapper) mapEIP(r *terraform.Resource) {
	if resArg(r, "network_interface").set() {
		m.unsupported(r, "network_interface", "an EIP on a network interface: vpclab models instances, not their ENIs (associate it with the instance)")
		return
	}
	a := resArg(r, "instance")
	if !a.set() {
		return // allocated only, or associated by an aws_eip_association
	}
	if ws := terraform.WhyOf(a.v); len(ws) == 1 && ws[0].Kind == "unmodeled" {
		return
	}
	if _, inst, ok := m.ref(a, "aws_instance", false); ok {
		m.setEIP(r, "instance", inst, r)
	}
}

func (m *tfMapper) mapAssociation(r *terraform.Resource) {
	if resArg(r, "network_interface_id").set() {
		m.unsupported(r, "network_interface_id", "an EIP on a network interface: vpclab models instances, not their ENIs (associate it with the instance)")
		return
	}
	a := resArg(r, "instance_id")
	if !a.set() {
		m.fail(r, "instance_id", "instance_id is required (network interfaces are not modelled)", "")
		return
	}
	var eip *terraform.Resource
	if al := resArg(r, "allocation_id"); al.set() {
		t, attr := m.target(al.v)
		if t == nil || t.Type != "aws_eip" || attr != "id" && attr != "allocation_id" {
			_, t, _ = m.ref(al, "aws_eip", false)
		}
		if t == nil {
			return
		}
		eip = t
	} else if p := resArg(r, "public_ip"); p.set() {
		if t, attr := m.target(p.v); t != nil && t.Type == "aws_eip" && attr == "public_ip" {
			eip = t
		} else if s, ok := m.str(p); ok {
			for _, e := range m.byAddr {
				if ip, _ := optString(e, "public_ip"); e.Type == "aws_eip" && ip == s {
					eip = e
				}
			}
			if eip == nil {
				eip = &terraform.Resource{Type: "aws_eip", Address: r.Address, Attrs: map[string]cty.Value{"public_ip": cty.StringVal(s)}}
			}
		} else {
			return
		}
	} else {
		m.fail(r, "allocation_id", "allocation_id is required", "")
		return
	}
	if _, inst, ok := m.ref(a, "aws_instance", false); ok {
		m.setEIP(r, "instance_id", inst, eip)
	}
}

// suggest is the name of names closest to s (at most 2 edits, as HCL's own
// "Did you mean" for block arguments), or "".
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := topology.EditDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
