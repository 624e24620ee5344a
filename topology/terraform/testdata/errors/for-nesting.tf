locals {
  ok   = flatten([for a in range(3) : [for b in range(3) : a * b]])
  hang = flatten([for a in range(1024) : [for b in range(1024) : [for c in range(1024) : c]]])
}
