"""vouchery-pos-gateway: a gRPC checkout gateway for the Vouchery.io Coupon Promotion API v2.1."""
