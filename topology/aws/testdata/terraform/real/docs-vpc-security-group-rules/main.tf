# From the AWS provider's documentation (MPL-2.0): the examples of
# website/docs/r/vpc_security_group_ingress_rule.html.markdown and
# website/docs/r/vpc_security_group_egress_rule.html.markdown, with the group
# they reference (aws_security_group.example, security_group.html.markdown
# "Basic Usage" without inline rules) and the VPC of vpc.html.markdown.

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_security_group" "example" {
  name        = "example"
  description = "Allow TLS inbound traffic"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "example" {
  security_group_id = aws_security_group.example.id

  cidr_ipv4   = "10.0.0.0/8"
  from_port   = 80
  ip_protocol = "tcp"
  to_port     = 80
}

resource "aws_vpc_security_group_egress_rule" "example" {
  security_group_id = aws_security_group.example.id

  cidr_ipv4   = "10.0.0.0/8"
  from_port   = 80
  ip_protocol = "tcp"
  to_port     = 80
}
