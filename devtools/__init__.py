"""Development tools: the guest and contract builds, a local git server, a crate registry."""
