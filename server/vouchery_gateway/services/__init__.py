"""Thin gRPC servicers: proto <-> domain through `convert`, edge checks through `validation`, no policy."""
