resource "alicloud_ecs_prefix_list" "office" {
  address_family = "IPv4"
  max_entries    = 10
  dynamic "entry" {
    for_each = ["10.0.0.0/8"]
    content {
      cidr = entry.value
    }
  }
}

variable "offices" {
  type    = map(string)
  default = { berlin = "198.51.100.0/24", lisbon = "203.0.113.0/25" }
}

resource "alicloud_ecs_prefix_list" "by_var" {
  address_family = "IPv4"
  max_entries    = 10
  entry {
    cidr = "192.0.2.1/32"
  }
  dynamic "entry" {
    for_each = var.offices
    iterator = office
    content {
      cidr        = office.value
      description = office.key
    }
  }
}

resource "alicloud_security_group" "admin" {}

resource "alicloud_security_group_rule" "from_office" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  prefix_list_id    = alicloud_ecs_prefix_list.office.id
  security_group_id = alicloud_security_group.admin.id
}

resource "alicloud_security_group_rule" "from_by_var" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  prefix_list_id    = alicloud_ecs_prefix_list.by_var.id
  security_group_id = alicloud_security_group.admin.id
}
