"""The HTTP gateway: Backend.AI-signed HTTP requests become bus commands and queries."""
