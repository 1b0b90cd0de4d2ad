"""A real OpenID Connect provider (idpyoidc) that tests run on loopback."""
