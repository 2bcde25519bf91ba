"""Admin for sources, profiles (the 360° page), identities and events."""
