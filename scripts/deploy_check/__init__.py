"""`make deploy-check`: the SAM transform offline, then the stacks created in an emulated account."""
