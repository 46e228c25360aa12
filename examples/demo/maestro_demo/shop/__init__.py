"""The shop: customers and their orders."""
