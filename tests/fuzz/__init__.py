"""The fuzzer: malformed, forged and hostile inputs across every HTTP route of the local stack
(`make fuzz`; `tests/e2e/test_fuzz.py` runs a seeded subset). See docs/RELIABILITY.md, "Hostile input"."""
