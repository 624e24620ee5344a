package ros

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Pseudo parameters and the values an offline import gives them. None of
// them decides reachability in a template we know of; they are fixed so that
// names built from them are stable.
var pseudo = map[string]string{
	"ALIYUN::AccountId":       "1234567890123456",
	"ALIYUN::Region":          "cn-hangzhou",
	"ALIYUN::StackId":         "vpclab-stack-id",
	"ALIYUN::StackName":       "vpclab",
	"ALIYUN::TenantId":        "1234567890123456",
	"ALIYUN::Partition":       "aliyun",
	"ALIYUN::NoValue":         "",
	"ALIYUN::ResourceGroupId": "rg-vpclab",
}

// noValue is what Ref ALIYUN::NoValue evaluates to: the property or list
// element holding it is left out.
var noValue = &node{kind: kNull}

// maxEval bounds the work of evaluating one template (function calls and
// values built), so that nested Fn::Split/Fn::Join cannot blow up.
const maxEval = 1_000_000

// Functions ROS has that an offline import cannot evaluate (or that never
// decide reachability): used in a value that matters they are an error.
var offlineFunctions = []string{
	"Fn::Base64", "Fn::Base64Encode", "Fn::Base64Decode", "Fn::Str", "Fn::GetAZs", "Fn::Length",
	"Fn::Index", "Fn::ListMerge", "Fn::GetJsonValue", "Fn::MergeMapToList", "Fn::Indent",
	"Fn::Calculate", "Fn::Max", "Fn::Min", "Fn::Add", "Fn::Avg", "Fn::Jq", "Fn::SelectMapList",
	"Fn::Contains", "Fn::Any", "Fn::EachMemberIn", "Fn::MatchPattern", "Fn::MarketplaceImage",
	"Fn::GetStackOutput", "Fn::Sort", "Fn::Dict", "Fn::ValueOf", "Fn::ValueOfAll",
}

func init() {
	for _, fn := range offlineFunctions {
		shortTags["!"+strings.TrimPrefix(fn, "Fn::")] = fn
	}
}

var evalFunctions = []string{
	"Ref", "Fn::GetAtt", "Fn::Join", "Fn::Select", "Fn::Sub", "Fn::If", "Fn::Equals", "Fn::And",
	"Fn::Or", "Fn::Not", "Fn::Split", "Fn::Replace", "Fn::FindInMap",
}

// param is a template parameter and its value for this import.
type param struct {
	name  string
	decl  *node
	value *node // nil: no --param and no Default
	given bool
}

// resource is one entry of Resources.
type resource struct {
	id    string
	typ   string
	decl  *node
	at    *node // the logical id's key
	props *node // nil when absent
	cond  string
	on    bool // its Condition holds (or it has none)
}

// template is a parsed template ready to evaluate lazily: only the values
// the import needs are evaluated, so a parameter without a default that
// sets, say, a password is never asked for.
type template struct {
	errs       *errList
	root       *node
	params     map[string]*param
	conditions map[string]*node
	condState  map[string]int8 // 0 not yet, 1 being evaluated, 2 true, 3 false, 4 failed
	mappings   *node
	resources  map[string]*resource
	order      []*resource
	budget     int
}

func (t *template) resourceIDs() []string {
	ids := make([]string, 0, len(t.order))
	for _, r := range t.order {
		ids = append(ids, r.id)
	}
	return ids
}

func (t *template) paramNames() []string {
	out := make([]string, 0, len(t.params))
	for n := range t.params {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ctx is where a value is evaluated, for messages.
type ctx struct {
	path   string
	entity string
}

func (c ctx) at(sub string) ctx {
	if strings.HasPrefix(sub, "[") {
		return ctx{c.path + sub, c.entity}
	}
	return ctx{c.path + "." + sub, c.entity}
}

// eval returns the value of n with every function applied, or nil after
// reporting why it cannot.
func (t *template) eval(n *node, c ctx, depth int) *node {
	if n == nil {
		return nil
	}
	t.budget--
	if t.budget < 0 {
		if t.budget == -1 {
			t.errs.add(n, c.path, c.entity, fmt.Sprintf("evaluation too large: more than %d steps", maxEval), "")
		}
		return nil
	}
	if depth > maxDepth {
		t.errs.add(n, c.path, c.entity, fmt.Sprintf("functions nested deeper than %d levels", maxDepth), "")
		return nil
	}
	switch n.kind {
	case kList:
		// Every element is evaluated, so that all errors are reported.
		out, failed := &node{kind: kList, line: n.line, col: n.col}, false
		for i, e := range n.list {
			v := t.eval(e, c.at(fmt.Sprintf("[%d]", i)), depth+1)
			if v == nil {
				failed = true
			} else if v != noValue {
				out.list = append(out.list, v)
			}
		}
		if failed {
			return nil
		}
		return out
	case kMap:
		if len(n.keys) == 1 && (n.keys[0] == "Ref" || n.keys[0] == "Condition" || strings.HasPrefix(n.keys[0], "Fn::")) {
			return t.call(n.keys[0], n.vals[0], n, c.at(n.keys[0]), depth+1)
		}
		out, failed := &node{kind: kMap, line: n.line, col: n.col}, false
		for i, k := range n.keys {
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				t.errs.add(n.vals[i], c.at(k).path, c.entity, fmt.Sprintf("%s must be the only key of its mapping", k), "")
				failed = true
				continue
			}
			v := t.eval(n.vals[i], c.at(k), depth+1)
			if v == nil {
				failed = true
			} else if v != noValue {
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, v)
				var kp *node
				if i < len(n.kpos) {
					kp = n.kpos[i]
				}
				out.kpos = append(out.kpos, kp)
			}
		}
		if failed {
			return nil
		}
		return out
	}
	return n
}

// args evaluates a function's argument list and checks its length.
func (t *template) args(fn string, arg *node, c ctx, depth, min, max int) []*node {
	v := t.eval(arg, c, depth)
	if v == nil {
		return nil
	}
	if v.kind != kList || len(v.list) < min || len(v.list) > max {
		want := fmt.Sprintf("a list of %d", min)
		if max > min {
			want = fmt.Sprintf("a list of %d to %d", min, max)
		}
		t.errs.add(arg, c.path, c.entity, fmt.Sprintf("%s takes %s values; got %s", fn, want, v.describe()), "")
		return nil
	}
	return v.list
}

// str is the text of a scalar value; a value computed from what the cloud
// assigns is reported.
func (t *template) str(fn string, v *node, c ctx) (string, bool) {
	if v == nil {
		return "", false
	}
	if v.kind != kString {
		t.errs.add(v, c.path, c.entity, fmt.Sprintf("%s needs a string here; got %s", fn, v.describe()), "")
		return "", false
	}
	return v.s, true
}

func (t *template) call(fn string, arg, at *node, c ctx, depth int) *node {
	switch fn {
	case "Ref":
		name, ok := t.str("Ref", t.eval(arg, c, depth), c)
		if !ok {
			return nil
		}
		return t.ref(name, arg, c)
	case "Fn::GetAtt":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		res, ok1 := t.str(fn, a[0], c)
		attr, ok2 := t.str(fn, a[1], c)
		if !ok1 || !ok2 {
			return nil
		}
		return t.getAtt(res, attr, a[0], c)
	case "Fn::Join":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		sep, ok := t.str(fn, a[0], c)
		if !ok {
			return nil
		}
		if a[1].kind != kList {
			t.errs.add(a[1], c.path, c.entity, "Fn::Join joins a list; got "+a[1].describe(), "")
			return nil
		}
		parts := make([]string, 0, len(a[1].list))
		for _, e := range a[1].list {
			s, ok := t.text(fn, e, c)
			if !ok {
				return nil
			}
			parts = append(parts, s)
		}
		return t.opaque(&node{kind: kString, s: strings.Join(parts, sep), line: at.line, col: at.col}, a[1].list)
	case "Fn::Select":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		is, ok := t.str(fn, a[0], c)
		if !ok {
			return nil
		}
		list := a[1]
		if list.kind == kString { // ROS selects from a comma-separated string too
			list = split(list, ",")
		}
		if list.kind == kMap {
			v := list.get(is)
			if v == nil {
				t.errs.add(a[0], c.path, c.entity, fmt.Sprintf("Fn::Select: the mapping has no key %q", is), strings.Join(list.keys, ", "))
			}
			return v
		}
		if list.kind != kList {
			t.errs.add(a[1], c.path, c.entity, "Fn::Select selects from a list; got "+list.describe(), "")
			return nil
		}
		i, err := strconv.Atoi(is)
		if err != nil || i < 0 || i >= len(list.list) {
			t.errs.add(a[0], c.path, c.entity, fmt.Sprintf("Fn::Select: index %q is outside the list of %d", is, len(list.list)),
				fmt.Sprintf("0..%d", len(list.list)-1))
			return nil
		}
		return list.list[i]
	case "Fn::Split":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		sep, ok1 := t.str(fn, a[0], c)
		s, ok2 := t.text(fn, a[1], c)
		if !ok1 || !ok2 {
			return nil
		}
		if sep == "" {
			t.errs.add(a[0], c.path, c.entity, "Fn::Split: the delimiter is empty", "")
			return nil
		}
		return split(t.opaque(&node{kind: kString, s: s, line: a[1].line, col: a[1].col}, a[1:]), sep)
	case "Fn::Replace":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		if a[0].kind != kMap {
			t.errs.add(a[0], c.path, c.entity, "Fn::Replace takes a mapping of replacements first; got "+a[0].describe(), "")
			return nil
		}
		s, ok := t.text(fn, a[1], c)
		if !ok {
			return nil
		}
		for i, k := range a[0].keys {
			to, ok := t.text(fn, a[0].vals[i], c)
			if !ok {
				return nil
			}
			if k != "" {
				s = strings.ReplaceAll(s, k, to)
			}
			if len(s) > maxFileSize {
				t.errs.add(at, c.path, c.entity, "Fn::Replace: result too long", "")
				return nil
			}
		}
		return t.opaque(&node{kind: kString, s: s, line: at.line, col: at.col}, a[1:])
	case "Fn::Sub":
		return t.sub(arg, at, c, depth)
	case "Fn::If":
		raw := arg
		if raw == nil || raw.kind != kList || len(raw.list) != 3 {
			t.errs.add(arg, c.path, c.entity, "Fn::If takes [condition, value if true, value if false]", "")
			return nil
		}
		name, ok := t.str(fn, t.eval(raw.list[0], c.at("[0]"), depth), c)
		if !ok {
			return nil
		}
		holds, ok := t.condition(name, raw.list[0], c)
		if !ok {
			return nil
		}
		if holds {
			return t.eval(raw.list[1], c.at("[1]"), depth)
		}
		return t.eval(raw.list[2], c.at("[2]"), depth)
	case "Fn::Equals":
		a := t.args(fn, arg, c, depth, 2, 2)
		if a == nil {
			return nil
		}
		x, ok1 := t.text(fn, a[0], c)
		y, ok2 := t.text(fn, a[1], c)
		if !ok1 || !ok2 {
			return nil
		}
		return boolean(x == y, at)
	case "Fn::And", "Fn::Or", "Fn::Not":
		if fn == "Fn::Not" && arg != nil && arg.kind != kList { // ROS takes a bare operand too
			arg = &node{kind: kList, list: []*node{arg}, line: arg.line, col: arg.col}
		}
		if arg == nil || arg.kind != kList || len(arg.list) == 0 || (fn == "Fn::Not" && len(arg.list) != 1) {
			t.errs.add(arg, c.path, c.entity, fn+" takes a list of conditions (Fn::Not: of one)", "")
			return nil
		}
		result := fn == "Fn::And"
		for i, e := range arg.list {
			b, ok := t.condValue(e, c.at(fmt.Sprintf("[%d]", i)), depth)
			if !ok {
				return nil
			}
			switch fn {
			case "Fn::And":
				result = result && b
			case "Fn::Or":
				result = result || b
			case "Fn::Not":
				result = !b
			}
		}
		return boolean(result, at)
	case "Fn::FindInMap":
		a := t.args(fn, arg, c, depth, 3, 3)
		if a == nil {
			return nil
		}
		cur := t.mappings
		for i, k := range a {
			key, ok := t.str(fn, k, c)
			if !ok {
				return nil
			}
			next := cur.get(key)
			if next == nil {
				var keys []string
				if cur != nil {
					keys = cur.keys
				}
				what := "Mappings has no"
				if i > 0 {
					what = "the mapping has no"
				}
				t.errs.add(k, c.path, c.entity, fmt.Sprintf("Fn::FindInMap: %s key %q", what, key), strings.Join(keys, ", "))
				return nil
			}
			cur = next
		}
		return t.eval(cur, c, depth)
	case "Condition":
		t.errs.add(at, c.path, c.entity, "a {Condition: name} value is only allowed inside Fn::And, Fn::Or and Fn::Not", "")
		return nil
	}
	if slices.Contains(offlineFunctions, fn) {
		t.errs.add(at, c.path, c.entity, fmt.Sprintf("%s cannot be evaluated offline; write the value itself", fn), "")
		return nil
	}
	msg := fmt.Sprintf("unknown function %s", fn)
	if s := suggest(fn, append(slices.Clone(evalFunctions), offlineFunctions...)); s != "" {
		msg += "; did you mean " + s + "?"
	}
	t.errs.add(at, c.path, c.entity, msg, strings.Join(evalFunctions, ", "))
	return nil
}

func boolean(b bool, at *node) *node {
	return &node{kind: kString, s: strconv.FormatBool(b), line: at.line, col: at.col}
}

// opaque marks a string built from values only the cloud knows, so that a
// field that needs it can say so instead of parsing "vpc-${...}".
func (t *template) opaque(out *node, from []*node) *node {
	for _, f := range from {
		if f.kind == kRef {
			out.kind, out.ref, out.computed = kRef, f.ref, true
			return out
		}
		if f.kind == kList && t.opaque(out, f.list).kind == kRef {
			return out
		}
	}
	return out
}

// text is the text of a scalar, or of a value the cloud assigns written as
// ${Res.Attr}.
func (t *template) text(fn string, v *node, c ctx) (string, bool) {
	if v != nil && v.kind == kRef {
		if v.computed {
			return v.s, true
		}
		return "${" + v.ref.String() + "}", true
	}
	if v != nil && v.kind == kNull {
		return "", true
	}
	return t.str(fn, v, c)
}

func split(v *node, sep string) *node {
	out := &node{kind: kList, line: v.line, col: v.col}
	if v.kind == kRef {
		out.list = []*node{v}
		return out
	}
	for _, p := range strings.Split(v.s, sep) {
		out.list = append(out.list, &node{kind: kString, s: p, line: v.line, col: v.col})
	}
	return out
}

// condValue evaluates one operand of Fn::And/Or/Not: a condition name, a
// {Condition: name}, or a function that yields true or false.
func (t *template) condValue(e *node, c ctx, depth int) (bool, bool) {
	if e != nil && e.kind == kString {
		return t.condition(e.s, e, c)
	}
	if e != nil && e.kind == kMap && len(e.keys) == 1 && e.keys[0] == "Condition" {
		name, ok := t.str("Condition", t.eval(e.vals[0], c, depth), c)
		if !ok {
			return false, false
		}
		return t.condition(name, e.vals[0], c)
	}
	v := t.eval(e, c, depth)
	return t.truth(v, c)
}

func (t *template) truth(v *node, c ctx) (bool, bool) {
	if v == nil {
		return false, false
	}
	if v.kind == kString {
		switch strings.ToLower(v.s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	t.errs.add(v, c.path, c.entity, "a condition must be true or false; got "+v.describe(), "true, false")
	return false, false
}

// condition evaluates a named condition once, detecting cycles.
func (t *template) condition(name string, at *node, c ctx) (bool, bool) {
	expr, ok := t.conditions[name]
	if !ok {
		msg := fmt.Sprintf("condition %q is not defined in Conditions", name)
		names := make([]string, 0, len(t.conditions))
		for k := range t.conditions {
			names = append(names, k)
		}
		sort.Strings(names)
		if s := suggest(name, names); s != "" {
			msg += "; did you mean " + s + "?"
		}
		t.errs.add(at, c.path, c.entity, msg, strings.Join(names, ", "))
		return false, false
	}
	switch t.condState[name] {
	case 1:
		t.errs.add(at, c.path, c.entity, fmt.Sprintf("condition %q depends on itself (a cycle in Conditions)", name), "")
		t.condState[name] = 4
		return false, false
	case 2:
		return true, true
	case 3:
		return false, true
	case 4:
		return false, false
	}
	t.condState[name] = 1
	b, ok := t.condValue(expr, ctx{"Conditions." + name, name}, 0)
	switch {
	case t.condState[name] == 4 || !ok:
		t.condState[name] = 4
		return false, false
	case b:
		t.condState[name] = 2
	default:
		t.condState[name] = 3
	}
	return b, true
}

// ref resolves Ref: a parameter's value, a pseudo parameter, or a
// resource's id.
func (t *template) ref(name string, at *node, c ctx) *node {
	if p, ok := t.params[name]; ok {
		if p.value == nil {
			t.errs.add(at, c.path, c.entity, fmt.Sprintf("parameter %s has no Default and no value; pass --param %s=... (imports: params: {%s: ...})", name, name, name), "")
			return nil
		}
		return p.value
	}
	if name == "ALIYUN::NoValue" {
		return noValue
	}
	if v, ok := pseudo[name]; ok {
		return &node{kind: kString, s: v, line: at.line, col: at.col}
	}
	if r, ok := t.resources[name]; ok {
		if !r.on {
			t.errs.add(at, c.path, c.entity, fmt.Sprintf("Ref to %s, which its Condition %s leaves out", name, r.cond), "")
			return nil
		}
		return &node{kind: kRef, ref: ref{res: name, index: -1}, line: at.line, col: at.col}
	}
	msg := fmt.Sprintf("Ref to %s, which is neither a parameter nor a resource", name)
	if s := suggest(name, append(t.paramNames(), t.resourceIDs()...)); s != "" {
		msg += "; did you mean " + s + "?"
	}
	t.errs.add(at, c.path, c.entity, msg, "")
	return nil
}

// attributes are the Fn::GetAtt attributes of the types the import reads.
var attributes = map[string][]string{
	typeVPC:           {"VpcId", "VRouterId", "RouteTableId", "CidrBlock", "VpcName", "Arn", "ResourceGroupId", "Ipv6CidrBlock", "Ipv6CidrBlocks"},
	typeVSwitch:       {"VSwitchId", "CidrBlock", "ZoneId", "VSwitchName", "Ipv6CidrBlock", "Arn"},
	typeSecurityGroup: {"SecurityGroupId", "SecurityGroupName", "Arn"},
	typeInstance: {"InstanceId", "PrivateIp", "PublicIp", "InnerIp", "PrimaryNetworkInterfaceId", "ZoneId",
		"HostName", "InstanceName", "Arn", "ImageId", "InstanceType", "PrivateIps", "PublicIps"},
	typeInstanceGroup: {"InstanceIds", "PrivateIps", "PublicIps", "InnerIps", "HostNames", "OrderId", "ZoneIds", "RelatedOrderIds", "Arns"},
	typeEIP:           {"AllocationId", "EipAddress", "OrderId", "ISP", "Bandwidth", "Arn"},
	typeEIPOld:        {"AllocationId", "EipAddress"},
	typeNAT: {"NatGatewayId", "SNatTableId", "SnatTableId", "ForwardTableId", "ForwardTableIds", "SNatTableIds",
		"SnatTableIds", "VpcId", "VSwitchId", "Arn"},
}

// groupLists are the InstanceGroup attributes that are one value per member.
var groupLists = []string{"InstanceIds", "PrivateIps", "PublicIps", "InnerIps", "HostNames", "ZoneIds", "Arns"}

func (t *template) getAtt(res, attr string, at *node, c ctx) *node {
	r, ok := t.resources[res]
	if !ok {
		msg := fmt.Sprintf("Fn::GetAtt of %s, which is not a resource of the template", res)
		if s := suggest(res, t.resourceIDs()); s != "" {
			msg += "; did you mean " + s + "?"
		}
		t.errs.add(at, c.path, c.entity, msg, "")
		return nil
	}
	if !r.on {
		t.errs.add(at, c.path, c.entity, fmt.Sprintf("Fn::GetAtt of %s, which its Condition %s leaves out", res, r.cond), "")
		return nil
	}
	if attrs, known := attributes[r.typ]; known && !slices.Contains(attrs, attr) {
		msg := fmt.Sprintf("%s (%s) has no attribute %q", res, r.typ, attr)
		if s := suggest(attr, attrs); s != "" {
			msg += "; did you mean " + s + "?"
		}
		t.errs.add(at, c.path, c.entity, msg, strings.Join(attrs, ", "))
		return nil
	}
	if r.typ == typeInstanceGroup && slices.Contains(groupLists, attr) {
		n, ok := t.groupSize(r)
		if !ok {
			return nil
		}
		out := &node{kind: kList, line: at.line, col: at.col}
		for i := range n {
			out.list = append(out.list, &node{kind: kRef, ref: ref{res: res, attr: strings.TrimSuffix(attr, "s"), index: i}, line: at.line, col: at.col})
		}
		return out
	}
	return &node{kind: kRef, ref: ref{res: res, attr: attr, index: -1}, line: at.line, col: at.col}
}

// sub evaluates Fn::Sub: "text ${Param} ${Res.Attr} ${!Literal}", with an
// optional mapping of variables.
func (t *template) sub(arg, at *node, c ctx, depth int) *node {
	var tmpl *node
	vars := map[string]*node{}
	v := t.eval(arg, c, depth)
	if v == nil {
		return nil
	}
	switch {
	case v.kind == kString:
		tmpl = v
	case v.kind == kList && len(v.list) == 2 && v.list[1].kind == kMap:
		tmpl = v.list[0]
		for i, k := range v.list[1].keys {
			vars[k] = v.list[1].vals[i]
		}
	default:
		t.errs.add(arg, c.path, c.entity, "Fn::Sub takes a string, or [string, {variable: value}]", "")
		return nil
	}
	s, ok := t.str("Fn::Sub", tmpl, c)
	if !ok {
		return nil
	}
	var b strings.Builder
	var deps []*node
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			t.errs.add(tmpl, c.path, c.entity, "Fn::Sub: ${ without a closing }", "")
			return nil
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var val *node
		if x, ok := vars[name]; ok {
			val = x
		} else if res, attr, dot := strings.Cut(name, "."); dot {
			val = t.getAtt(res, attr, tmpl, c)
		} else {
			val = t.ref(name, tmpl, c)
		}
		if val == nil {
			return nil
		}
		text, ok := t.text("Fn::Sub", val, c)
		if !ok {
			return nil
		}
		deps = append(deps, val)
		b.WriteString(text)
		if b.Len() > maxFileSize {
			t.errs.add(at, c.path, c.entity, "Fn::Sub: result too long", "")
			return nil
		}
	}
	return t.opaque(&node{kind: kString, s: b.String(), line: at.line, col: at.col}, deps)
}
