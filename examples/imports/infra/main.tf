# A small shop on Alibaba Cloud, as its team deploys it with Terraform (alicloud provider).
variable "env" {
  type    = string
  default = "dev"
}

variable "web_count" {
  type    = number
  default = 2
}

variable "office_cidr" {
  type    = string
  default = "198.51.100.0/24"
}

locals {
  name = "shop-${var.env}"
}

resource "alicloud_vpc" "main" {
  vpc_name   = local.name
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "web" {
  vpc_id       = alicloud_vpc.main.id
  cidr_block   = cidrsubnet(alicloud_vpc.main.cidr_block, 8, 1)
  zone_id      = "cn-hangzhou-h"
  vswitch_name = "${local.name}-web"
}

resource "alicloud_vswitch" "db" {
  vpc_id       = alicloud_vpc.main.id
  cidr_block   = cidrsubnet(alicloud_vpc.main.cidr_block, 8, 2)
  zone_id      = "cn-hangzhou-h"
  vswitch_name = "${local.name}-db"
}

resource "alicloud_security_group" "web" {
  security_group_name = "${local.name}-web"
  vpc_id              = alicloud_vpc.main.id
}

resource "alicloud_security_group" "db" {
  security_group_name = "${local.name}-db"
  vpc_id              = alicloud_vpc.main.id
}

resource "alicloud_security_group_rule" "https" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
  description       = "https from anywhere"
}

resource "alicloud_security_group_rule" "ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = var.office_cidr
  security_group_id = alicloud_security_group.web.id
  description       = "ssh from the office"
}

resource "alicloud_security_group_rule" "pg" {
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "5432/5432"
  source_security_group_id = alicloud_security_group.web.id
  security_group_id        = alicloud_security_group.db.id
  description              = "postgres from the web tier"
}

resource "alicloud_instance" "web" {
  count                      = var.web_count
  instance_name              = "${local.name}-web-${count.index}"
  instance_type              = "ecs.g7.large"
  image_id                   = "ubuntu_22_04_x64_20G_alibase_20240101.vhd"
  vswitch_id                 = alicloud_vswitch.web.id
  security_groups            = [alicloud_security_group.web.id]
  internet_max_bandwidth_out = 10
}

resource "alicloud_instance" "db" {
  instance_name   = "${local.name}-db"
  instance_type   = "ecs.r7.large"
  image_id        = "ubuntu_22_04_x64_20G_alibase_20240101.vhd"
  vswitch_id      = alicloud_vswitch.db.id
  private_ip      = "10.0.2.10"
  security_groups = [alicloud_security_group.db.id]
}
