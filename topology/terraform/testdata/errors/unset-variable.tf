variable "office_cidr" {
  type = string
}

resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = var.office_cidr
  security_group_id = alicloud_security_group.web.id
}
