"""vouchery_sandbox: a stateful emulator of the Vouchery.io Coupon Promotion API v2.1."""
