"""OutLayer's services, one package each; each exposes its gRPC API and keeps the rest private."""
