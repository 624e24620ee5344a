variable "vpc_id" {
  default = ""
}

variable "security_group_name" {
  default = "default-sg"
}

variable "nic_type" {
  default = "internet"
}

