"""Assembles the keystore: master secret from the TEE, a fresh TLS key, the gRPC server."""

from __future__ import annotations

import grpc

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcserver import ServiceBinding, create_server
from outlayer.near.rpc import NearRpc
from outlayer.tls import identity_for
from outlayer.v1 import keystore_pb2, keystore_pb2_grpc
from services.keystore import tlskey
from services.keystore.access import RpcChainView
from services.keystore.service import PERMISSIONS, KeystoreServicer, StoredSecrets
from services.keystore.tee import Tee, tee_for

SERVICE_NAME = keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"].full_name


def build_server(
    settings: Settings, listen: str | None = None, tee: Tee | None = None
) -> tuple[grpc.Server, int]:
    mesh = identity_for(settings.tls, "keystore")
    if mesh is None:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            "the keystore serves only over attested TLS with mesh client certificates: enable "
            "tls (tls.enabled = true; `outlayer dev certs` makes a development CA)",
        )
    try:
        mesh_ca = mesh.ca_file.read_bytes()
    except OSError as exc:
        raise OutlayerError(
            ErrorCode.CONFIGURATION, f"cannot read the mesh CA {mesh.ca_file}: {exc.strerror}"
        ) from None
    config = settings.keystore
    tee = tee or tee_for(config)
    rpc = NearRpc(config.rpc_url)
    own = tlskey.generate()
    servicer = KeystoreServicer(
        master=tee.master_secret(),
        tee=tee,
        tls_key=own,
        mesh_ca_pem=mesh_ca,
        stored=StoredSecrets(rpc, config.contract_id),
        chain=RpcChainView(rpc),
        register_contract=config.register_contract,
    )
    credentials = grpc.ssl_server_credentials(
        [(own.key_pem, own.certificate_pem)], root_certificates=mesh_ca, require_client_auth=True
    )
    binding = ServiceBinding(
        SERVICE_NAME,
        keystore_pb2_grpc.add_KeystoreServiceServicer_to_server,
        servicer,
        PERMISSIONS,
    )
    return create_server(listen or config.listen, [binding], 8, credentials)
