"""Talking to NEAR: keys, borsh-encoded transactions and a JSON-RPC client.

The same code talks to localnet and to a real NEAR RPC node.
"""
