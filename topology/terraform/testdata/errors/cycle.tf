resource "alicloud_security_group" "a" {
  security_group_type = alicloud_security_group.b.security_group_type
}

resource "alicloud_security_group" "b" {
  security_group_type = local.kind
}

locals {
  kind = alicloud_security_group.a.security_group_type
}
