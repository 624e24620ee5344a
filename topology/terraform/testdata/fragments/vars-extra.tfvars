from_var_file = "10.5.0.0/16"
from_var      = "10.6.5.0/24"
