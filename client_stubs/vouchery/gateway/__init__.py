"""Generated gRPC client stubs of the Vouchery POS gateway."""
