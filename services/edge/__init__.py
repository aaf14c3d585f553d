"""The HTTPS edge: REST/JSON in front of the services' gRPC, transcoded from the
``google.api.http`` rules in ``protos/`` (the grpc-gateway model), with an OpenAPI document."""
