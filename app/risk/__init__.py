"""Risk signals about phones, devices and requests, and the policy that answers them."""
