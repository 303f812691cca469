"""`buf/validate/validate.proto` (protovalidate's rule annotations), generated from third_party/proto.

The `vouchery.gateway.v1` modules import `validate_pb2` because their request fields carry these rules;
a client validates requests before sending with a protovalidate library (e.g. PyPI `protovalidate`).
"""
