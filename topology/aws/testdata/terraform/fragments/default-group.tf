# The VPC's default group adopted with aws_default_security_group (the
# provider removes its rules; these are its rules now): members reach each
# other, nothing else comes in, all goes out. The instance lists no group,
# so AWS puts it in the default group; a rule references the default group
# through the VPC's default_security_group_id.
resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  ingress {
    protocol  = -1
    self      = true
    from_port = 0
    to_port   = 0
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "admin" {
  name   = "admin"
  vpc_id = aws_vpc.main.id
}

resource "aws_security_group_rule" "admin_ssh" {
  type                     = "egress"
  security_group_id        = aws_security_group.admin.id
  protocol                 = "tcp"
  from_port                = 22
  to_port                  = 22
  source_security_group_id = aws_vpc.main.default_security_group_id
}

resource "aws_instance" "app" {
  subnet_id  = aws_subnet.a.id
  private_ip = "10.0.1.10"
}

resource "aws_instance" "bastion" {
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.admin.id, aws_default_security_group.default.id]
}
