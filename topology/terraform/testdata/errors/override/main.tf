resource "alicloud_security_group" "web" {}
