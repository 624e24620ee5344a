package topology

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// field is one struct field as the file sees it, read from its tags.
type field struct {
	name     string // YAML key
	index    int
	required bool
	def      string // default, as YAML text; "" if none
	hasDef   bool
	enum     []string
	min, max *int
	scalar   bool // a string field that also takes numbers (port_range: 80)
	chars    charClass
	duration bool // a time.Duration: min and max are seconds
	all      bool // an int that also takes the word "all" (AllPorts)
	doc      string
}

// structFields describes a struct type's YAML fields in declaration order.
type structFields struct {
	list   []field
	byName map[string]*field
	names  []string
}

var fieldCache sync.Map // reflect.Type → *structFields

var (
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	durationType = reflect.TypeFor[time.Duration]()
)

func fieldsOf(t reflect.Type) *structFields {
	if sf, ok := fieldCache.Load(t); ok {
		return sf.(*structFields)
	}
	sf := &structFields{byName: map[string]*field{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fd := field{name: name, index: i, doc: f.Tag.Get("doc"), duration: f.Type == durationType}
		for opt := range strings.SplitSeq(f.Tag.Get("topo"), ",") {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "required":
				fd.required = true
			case "scalar":
				fd.scalar = true
			case "all":
				fd.all = true
			case "name":
				fd.chars = nameChars
			case "multiline":
				fd.chars = multilineChars
			case "default":
				fd.def, fd.hasDef = v, true
			case "enum":
				fd.enum = strings.Split(v, "|")
			case "min", "max":
				n, err := strconv.Atoi(v)
				if err != nil {
					panic("topology: bad tag on " + t.Name() + "." + f.Name)
				}
				if k == "min" {
					fd.min = &n
				} else {
					fd.max = &n
				}
			}
		}
		sf.list = append(sf.list, fd)
		sf.names = append(sf.names, name)
	}
	for i := range sf.list {
		sf.byName[sf.list[i].name] = &sf.list[i]
	}
	fieldCache.Store(t, sf)
	return sf
}

// allowed renders a field's allowed values for error messages.
func (f *field) allowed() string {
	switch {
	case f.enum != nil:
		return strings.Join(f.enum, ", ")
	case f.duration && f.min != nil && f.max != nil:
		return fmt.Sprintf("whole seconds %d..%d, as a number (910) or a duration (%v..%v)",
			*f.min, *f.max, seconds(*f.min), seconds(*f.max))
	case f.min != nil && f.max != nil && *f.min == *f.max:
		return strconv.Itoa(*f.min)
	case f.min != nil && f.max != nil && f.all:
		return strconv.Itoa(*f.min) + ".." + strconv.Itoa(*f.max) + ", all"
	case f.min != nil && f.max != nil:
		return strconv.Itoa(*f.min) + ".." + strconv.Itoa(*f.max)
	case f.min != nil:
		return "an integer >= " + strconv.Itoa(*f.min)
	}
	return ""
}

// fillDefaults sets the tagged defaults of a struct and of the structs it
// holds directly (not through slices).
func fillDefaults(v reflect.Value) {
	sf := fieldsOf(v.Type())
	for i := range sf.list {
		f := &sf.list[i]
		fv := v.Field(f.index)
		if fv.Kind() == reflect.Struct && fv.Type() != addrType && fv.Type() != prefixType {
			fillDefaults(fv)
			continue
		}
		if !f.hasDef {
			continue
		}
		switch {
		case fv.Type() == addrType:
			fv.Set(reflect.ValueOf(netip.MustParseAddr(f.def)))
		case fv.Type() == durationType:
			d, err := time.ParseDuration(f.def)
			if err != nil {
				panic("topology: bad default on " + f.name)
			}
			fv.SetInt(int64(d))
		case fv.Kind() == reflect.String:
			fv.SetString(f.def)
		case fv.Kind() == reflect.Int:
			n, _ := strconv.Atoi(f.def)
			fv.SetInt(int64(n))
		case fv.Kind() == reflect.Bool:
			fv.SetBool(f.def == "true")
		}
	}
}

// seconds renders n seconds as a duration without zero units: 604800 is
// "168h", 910 is "15m10s".
func seconds(n int) string {
	s := (time.Duration(n) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
