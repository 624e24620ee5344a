variable "offices" {
  type = list(string)
}

resource "alicloud_ecs_prefix_list" "office" {
  address_family = "IPv4"
  max_entries    = 10
  dynamic "entry" {
    for_each = var.offices
    content {
      cidr = entry.value
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
