# A configuration of another provider, imported with format aws by mistake.
resource "alicloud_security_group" "web" {
  security_group_name = "web"
}
