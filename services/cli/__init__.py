"""The `baikal` command line."""
