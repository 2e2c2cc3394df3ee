"""The local stack: Parity's functions on this machine, AWS emulated by moto's server."""
