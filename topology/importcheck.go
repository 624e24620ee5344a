package topology

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
)

// checkImported fills the defaults of an imported entity and checks its
// fields as the decoder checks a file's: required fields, allowed values
// (stored lower-case), ranges and characters. An importer is meant to give
// valid values; this keeps a mistake of one from reaching the data plane.
func (t *Topology) checkImported(v reflect.Value, path string, errs *errorList) {
	sf := fieldsOf(v.Type())
	for i := range sf.list {
		f := &sf.list[i]
		fv := v.Field(f.index)
		p := join(path, f.name)
		switch {
		case fv.Type() == addrType:
			a := fv.Interface().(netip.Addr)
			switch {
			case !a.IsValid() && f.required:
				errs.add(p, "", "required field is missing", "")
			case a.IsValid() && !a.Is4():
				errs.add(p, "", fmt.Sprintf("%q is not an IPv4 address", a), "")
			}
		case fv.Type() == prefixType:
			c := fv.Interface().(netip.Prefix)
			switch {
			case !c.IsValid() && f.required:
				errs.add(p, "", "required field is missing", "a CIDR like 10.0.0.0/16")
			case c.IsValid() && !c.Addr().Is4():
				errs.add(p, cidrMalformed, fmt.Sprintf("%q is not an IPv4 CIDR", c), "a CIDR like 10.0.0.0/16")
			case c.IsValid() && c.Masked() != c:
				errs.add(p, cidrMalformed, fmt.Sprintf("%s has host bits set: a CIDR block is written with its network address", c), "")
			}
		case fv.Type() == durationType:
		case fv.Kind() == reflect.Struct:
			t.checkImported(fv, p, errs)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := range fv.Len() {
				t.checkImported(fv.Index(j), fmt.Sprintf("%s[%d]", p, j), errs)
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
			for j := range fv.Len() {
				ev := fv.Index(j)
				t.checkString(ev, &field{chars: f.chars, enum: f.enum}, fmt.Sprintf("%s[%d]", p, j), errs)
			}
		case fv.Kind() == reflect.String:
			if fv.String() == "" {
				switch {
				case f.hasDef:
					fv.SetString(f.def)
				case f.required:
					errs.add(p, "", "required field is missing", f.allowed())
				}
				continue
			}
			t.checkString(fv, f, p, errs)
		case fv.Kind() == reflect.Int:
			n := fv.Int()
			if n == 0 {
				switch {
				case f.hasDef && !f.duration:
					d, _ := strconv.Atoi(f.def)
					fv.SetInt(int64(d))
				case f.required && !f.all:
					errs.add(p, "", "required field is missing", f.allowed())
				}
				continue
			}
			if (f.min != nil && n < int64(*f.min)) || (f.max != nil && n > int64(*f.max)) {
				errs.add(p, "", fmt.Sprintf("%d is out of range", n), f.allowed())
			}
		}
	}
}

// checkString checks an imported string against its field's characters
// and allowed values, storing an allowed value lower-case.
func (t *Topology) checkString(v reflect.Value, f *field, path string, errs *errorList) {
	s := v.String()
	if msg := f.chars.check(s); msg != "" {
		errs.add(path, "", fmt.Sprintf("%s contains %s", quote(s), msg), f.chars.allowed())
		return
	}
	if f.enum != nil {
		lower := strings.ToLower(s)
		if !contains(f.enum, lower) {
			errs.add(path, "", fmt.Sprintf("unknown value %q", s), f.allowed())
			return
		}
		v.SetString(lower)
	}
}
