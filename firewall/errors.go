package firewall

import (
	"errors"
	"fmt"
	"strings"
)

// Cloud error codes. The names are the cloud's (Alibaba Cloud ECS API) where
// it publishes one; codes marked "ours" fill gaps the cloud does not name.
const (
	ErrAuthorizationLimitExceed           = "AuthorizationLimitExceed"
	ErrInstanceSecurityGroupLimitExceeded = "InstanceSecurityGroupLimitExceeded"
	ErrInvalidPriority                    = "InvalidPriority.ValueNotSupported"
	ErrInvalidIPProtocol                  = "InvalidIpProtocol.ValueNotSupported"
	ErrInvalidPortRange                   = "InvalidPortRange.Malformed"
	ErrInvalidSourcePortRange             = "InvalidSourcePortRange.Malformed"
	ErrInvalidPolicy                      = "InvalidPolicy.Malformed"
	ErrInvalidDirection                   = "InvalidDirection.Malformed" // ours
	ErrInvalidSourceCIDR                  = "InvalidSourceCidrIp.Malformed"
	ErrInvalidDestCIDR                    = "InvalidDestCidrIp.Malformed"
	ErrInvalidLocalCIDR                   = "InvalidLocalCidrIp.Malformed" // ours
	ErrInvalidNicType                     = "InvalidNicType.ValueNotSupported"
	ErrNicTypeNotSupported                = "InvalidNicType.NotSupported"
	ErrConflict                           = "InvalidParameter.Conflict"
	ErrMissingParameter                   = "MissingParameter"
	ErrGroupNotFound                      = "InvalidSecurityGroupId.NotFound"
	ErrGroupAlreadyExists                 = "InvalidSecurityGroupId.AlreadyExists" // ours
	ErrGroupInUse                         = "DependencyViolation"
	ErrInvalidGroupType                   = "InvalidSecurityGroupType.ValueNotSupported"
	ErrInvalidInnerAccess                 = "InvalidInnerAccessPolicy.ValueNotSupported"
	ErrEnterpriseGroupReference           = "InvalidParameter.EnterpriseGroupReference" // ours
	ErrGroupReferenceLimitExceed          = "GroupReferenceLimitExceed"                 // ours
	ErrGroupTypeMismatch                  = "InvalidSecurityGroupType.Mismatch"         // ours
	ErrInvalidGroupName                   = "InvalidSecurityGroupName.Malformed"        // ours
	ErrRuleNotFound                       = "InvalidSecurityGroupRule.NotFound"         // ours
	ErrNICNotFound                        = "InvalidNetworkInterfaceId.NotFound"
	ErrNICAlreadyExists                   = "InvalidNetworkInterfaceId.AlreadyExists" // ours
	ErrInvalidAddress                     = "InvalidPrivateIpAddress.Malformed"
	ErrAddressInUse                       = "InvalidPrivateIpAddress.Duplicated"
	ErrInvalidQuota                       = "InvalidQuota.ValueNotSupported"                 // ours
	ErrQuotaBelowUsage                    = "QuotaBelowUsage"                                // ours
	ErrNotMember                          = "InvalidNetworkInterface.NotInSecurityGroup"     // ours
	ErrAlreadyMember                      = "InvalidNetworkInterface.AlreadyInSecurityGroup" // ours
)

// Error is a refusal with the cloud's error code and where it applies. Every
// validation failure of the firewall is an *Error; several are joined with
// errors.Join, so use errors.As (first) or Errors (all) to inspect them.
type Error struct {
	Code    string // cloud error code, e.g. AuthorizationLimitExceed
	Group   string // offending security group, if any
	Rule    int    // index of the offending rule in Group, or -1
	NIC     string // offending NIC, if any
	Field   string // offending field (protocol, port_range, ...), if any
	Value   string // the bad value, if any
	Allowed string // the allowed values, if the field has a fixed set
	Msg     string // what is wrong, in words
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(":")
	if e.Group != "" {
		fmt.Fprintf(&b, " group %s", e.Group)
		if e.Rule >= 0 {
			fmt.Fprintf(&b, " rule %d", e.Rule)
		}
		b.WriteString(":")
	}
	if e.NIC != "" {
		fmt.Fprintf(&b, " nic %s:", e.NIC)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " %s", e.Field)
		if e.Value != "" {
			fmt.Fprintf(&b, " %q", e.Value)
		}
		b.WriteString(":")
	}
	b.WriteString(" ")
	b.WriteString(e.Msg)
	if e.Allowed != "" {
		fmt.Fprintf(&b, " (allowed: %s)", e.Allowed)
	}
	return b.String()
}

// Errors returns every *Error inside err (which may be joined or wrapped).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*Error); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// HasCode reports whether err contains an *Error with the given code.
func HasCode(err error, code string) bool {
	for _, e := range Errors(err) {
		if e.Code == code {
			return true
		}
	}
	return false
}

// errList collects validation errors so that all of them are reported.
type errList []error

func (l *errList) add(e *Error) { *l = append(*l, e) }

func (l errList) err() error {
	if len(l) == 0 {
		return nil
	}
	return errors.Join(l...)
}
