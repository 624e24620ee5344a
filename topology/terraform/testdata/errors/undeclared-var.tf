variable "office_cidr" {
  type = string
}

variable "ports" {
  type = list(number)
}
