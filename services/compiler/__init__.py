"""The compiler service: a repository at a commit, built to WASI in a sandbox, cached by SHA-256.

Its public surface is ``outlayer.v1.CompilerService`` (protos/outlayer/v1/compiler.proto); the
modules here are its internals.
"""
