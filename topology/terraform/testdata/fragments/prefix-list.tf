resource "alicloud_ecs_prefix_list" "offices" {
  address_family   = "IPv4"
  max_entries      = 5
  prefix_list_name = "offices"
  entry {
    cidr        = "198.51.100.0/24"
    description = "Berlin"
  }
  entry {
    cidr = "203.0.113.8"
  }
}

resource "alicloud_security_group" "admin" {
  security_group_name = "admin"
  inner_access_policy = "Drop"
}

resource "alicloud_security_group_rule" "ssh_from_offices" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  prefix_list_id    = alicloud_ecs_prefix_list.offices.id
  security_group_id = alicloud_security_group.admin.id
  description       = "SSH from the offices"
}

resource "alicloud_security_group_rule" "to_offices" {
  type              = "egress"
  ip_protocol       = "gre"
  prefix_list_id    = alicloud_ecs_prefix_list.offices.id
  security_group_id = alicloud_security_group.admin.id
}
