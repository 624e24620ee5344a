variable "env" {
  default = "staging"
}

locals {
  vpc_cidr = "10.0.0.0/16"
  tiers    = ["web", "db"]
}

resource "alicloud_vpc" "main" {
  vpc_name   = "vpc-${var.env}"
  cidr_block = local.vpc_cidr
}

resource "alicloud_vswitch" "tier" {
  count        = length(local.tiers)
  vpc_id       = alicloud_vpc.main.id
  cidr_block   = cidrsubnet(local.vpc_cidr, 8, count.index + 1)
  zone_id      = "cn-hangzhou-i"
  vswitch_name = format("%s-%s", var.env, element(local.tiers, count.index))
}

resource "alicloud_security_group" "web" {
  security_group_name = "web"
  vpc_id              = alicloud_vpc.main.id
}

resource "alicloud_security_group" "db" {
  security_group_name = "db"
  vpc_id              = alicloud_vpc.main.id
  security_group_type = "enterprise"
}

resource "alicloud_security_group_rule" "https" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
  description       = "HTTPS from anywhere"
}

resource "alicloud_security_group_rule" "db_from_web" {
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "5432/5432"
  source_security_group_id = alicloud_security_group.web.id
  security_group_id        = alicloud_security_group.db.id
  priority                 = 10
}

resource "alicloud_security_group_rule" "web_to_db" {
  type                     = "egress"
  ip_protocol              = "tcp"
  port_range               = "5432/5432"
  source_security_group_id = alicloud_security_group.db.id
  security_group_id        = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "deny_admin" {
  type              = "ingress"
  ip_protocol       = "all"
  policy            = "drop"
  priority          = 100
  port_range        = "-1/-1"
  cidr_ip           = "192.0.2.7"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_instance" "web" {
  count                      = 2
  instance_name              = "web-${count.index}"
  image_id                   = "ubuntu_22_04_x64_20G_alibase_20240130.vhd"
  instance_type              = "ecs.g7.large"
  vswitch_id                 = alicloud_vswitch.tier[0].id
  security_groups            = [alicloud_security_group.web.id]
  private_ip                 = cidrhost(alicloud_vswitch.tier[0].cidr_block, 10 + count.index)
  internet_max_bandwidth_out = count.index == 0 ? 5 : 0
}

resource "alicloud_instance" "db" {
  image_id        = "ubuntu_22_04_x64_20G_alibase_20240130.vhd"
  instance_type   = "ecs.g7.large"
  vswitch_id      = alicloud_vswitch.tier.1.id
  security_groups = alicloud_security_group.db[*].id
}

resource "alicloud_oss_bucket" "logs" {
  bucket = "logs-${var.env}"
}
