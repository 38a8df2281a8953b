"""Printable documents (PDF) built from already-translated texts, free of Flask."""
