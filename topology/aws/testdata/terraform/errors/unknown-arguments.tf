resource "aws_security_group" "web" {
  name = "web"
  vpc  = "vpc-1"

  ingress {
    protocol   = "tcp"
    from_port  = 80
    to_port    = 80
    cidr_block = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "web" {
  subnet_id             = "subnet-1"
  vpc_security_group_id = [aws_security_group.web.id]
}

resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.web.id
  protocol          = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ip           = "10.0.0.0/8"
}
