"""The pure domain: purchases, states, entitlements, ordering and store normalization.

Nothing in this package may import anything outside the standard library (a test checks it).
"""
