"""Adapters: the ports implemented against AWS and the stores."""
