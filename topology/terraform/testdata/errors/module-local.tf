module "net" {
  source = "../modules/net"
}

resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "from_inner" {
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "80/80"
  source_security_group_id = module.net.group_id
  security_group_id        = alicloud_security_group.web.id
}
