resource "alicloud_security_group" "web" {}

resource "alicloud_security_group" "web" {}

variable "x" {}

variable "x" {}
