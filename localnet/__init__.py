"""localnet: an embedded NEAR-compatible runtime that executes real compiled contracts.

It runs contract wasm under wasmtime with NEAR's host functions, keeps accounts, balances,
storage staking, blocks and receipts (with promises and yield/resume), reports the gas each
call burns, and serves the subset of NEAR JSON-RPC that OutLayer's own clients use, so the
same client code talks to localnet or to a real NEAR node.
"""
