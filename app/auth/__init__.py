"""Login factors and the login flow. Services here take plain arguments and return plain
results; views and the CLI share them."""
