"""OutLayer: verifiable off-chain computation for NEAR smart contracts.

This package holds what every service shares: configuration, the result type, the error
taxonomy, resource limits, the generated Protobuf code (``outlayer.v1``) and the CLI.
"""
