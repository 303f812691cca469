"""Generated stubs of the vouchery.gateway.v1 API (rebuild with `./dev gen`; never edit by hand).

    from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2

The `.proto` sources are shipped beside the stubs for clients that load them at run time.
"""
