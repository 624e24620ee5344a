package topology

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	top, err := Load("names.yaml", []byte(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
instances:
  - {name: web-1, vswitch: main}
  - {name: app-1, vswitch: main}
internet:
  hosts: [{name: office, ip: 198.51.100.7}, {name: customer, ip: 192.0.2.10}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		address bool
		want    string // "" = valid
	}{
		{name: "web-1"},
		{name: "office"},
		{name: "10.0.1.9", address: true},
		{name: "10.0.1.9", want: `no instance or internet host "10.0.1.9" (instances: app-1, web-1; internet hosts: customer, office)`},
		{name: "nobody", want: `no instance or internet host "nobody" (instances: app-1, web-1; internet hosts: customer, office)`},
		{name: "nobody", address: true,
			want: `no instance or internet host "nobody" (instances: app-1, web-1; internet hosts: customer, office; or an IPv4 address)`},
		{name: "web1", want: `no instance or internet host "web1", did you mean "web-1"? (instances: app-1, web-1; internet hosts: customer, office)`},
		{name: "ofice", want: `no instance or internet host "ofice", did you mean "office"? (instances: app-1, web-1; internet hosts: customer, office)`},
	} {
		err := top.CheckName(tt.name, tt.address)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckName(%q, %v) = %v, want nil", tt.name, tt.address, err)
			}
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) || err.Error() != tt.want {
			t.Errorf("CheckName(%q, %v) = %v\nwant %s", tt.name, tt.address, err, tt.want)
		}
	}
}
