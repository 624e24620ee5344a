locals {
  groups = {
    web = { type = "normal", policy = "Accept" }
    "ops team" = { type = "normal", policy = "Drop" }
  }
  open_ports = toset(["80", "443"])
}

resource "alicloud_security_group" "g" {
  for_each            = local.groups
  security_group_name = each.key
  security_group_type = each.value.type
  inner_access_policy = each.value.policy
}

resource "alicloud_security_group_rule" "web_in" {
  for_each          = local.open_ports
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "${each.value}/${each.value}"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.g["web"].id
  description       = upper("port ${each.key}")
}

resource "alicloud_security_group_rule" "ops_ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = lookup({ office = "198.51.100.0/24" }, "office", "0.0.0.0/0")
  security_group_id = alicloud_security_group.g["ops team"].id
}

resource "alicloud_security_group" "legacy" {
  inner_access = false
}
