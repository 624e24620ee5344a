# Each variable is set at a different level of Terraform's precedence:
# default < TF_VAR_ < terraform.tfvars < *.auto.tfvars < --var-file < --var.
variable "from_default" { default = "10.1.0.0/16" }
variable "from_env" { default = "10.9.0.0/16" }
variable "from_tfvars" { default = "10.9.0.0/16" }
variable "from_auto" { default = "10.9.0.0/16" }
variable "from_var_file" { default = "10.9.0.0/16" }
variable "from_var" { default = "10.9.0.0/16" }
variable "ports" {
  type    = list(number)
  default = [1]
}
variable "priority" {
  type = number
}

resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "r" {
  count             = 6
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "${var.ports[0]}/${var.ports[1]}"
  priority          = var.priority
  cidr_ip           = [var.from_default, var.from_env, var.from_tfvars, var.from_auto, var.from_var_file, var.from_var][count.index]
  security_group_id = alicloud_security_group.web.id
}
