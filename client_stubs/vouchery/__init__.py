"""Namespace of the Vouchery POS gateway client packages."""
