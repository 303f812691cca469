"""Generated code of the Buf-maintained protos the gateway's API imports (rebuild with `./dev gen`)."""
