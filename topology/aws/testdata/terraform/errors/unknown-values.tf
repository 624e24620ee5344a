variable "office" {}

data "aws_security_group" "shared" {
  name = "shared"
}

module "net" {
  source = "terraform-aws-modules/vpc/aws"
}

resource "aws_security_group" "web" {
  name   = "web"
  vpc_id = module.net.vpc_id

  ingress {
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = [var.office]
  }

  ingress {
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    security_groups = [data.aws_security_group.shared.id]
  }
}

resource "aws_vpc_security_group_ingress_rule" "lb" {
  security_group_id            = aws_security_group.web.id
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_lb.front.security_groups[0]
}

resource "aws_instance" "web" {
  subnet_id              = module.net.private_subnets[0]
  private_ip             = cidrhost(var.office, 5)
  vpc_security_group_ids = [aws_security_group.web.id]
}
