"""Offline retraining of the generator from logged traffic and feedback."""
