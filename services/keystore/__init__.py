"""The keystore: the only service that can decrypt users' secrets (attested in Intel TDX).

Built so far: key derivation and the encryption scheme (``keys``), and access conditions
(``access``). The gRPC service with its attested channel is still to come (issue 6).
"""
