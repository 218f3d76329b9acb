"""Identity service: domains, projects, users, keypairs, login."""
