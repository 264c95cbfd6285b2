"""The flow engine: plain modules, one responsibility each (see README "Code map")."""
