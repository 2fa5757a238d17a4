"""Tasks that an implicit neural representation can be fitted to (images, ...)."""
